from django import forms

from notifications.models import EVENTS, SEVERITIES, Channel

EVENT_LABELS = {"fills": "Fills", "risk": "Risk events", "kill_switch": "Kill switch",
                "promotion": "Promotion to live (once live trading exists)",
                "daily_summary": "Daily summary of your bots (00:05 UTC)",
                "security": "Security: failed sign-in attempts on your account"}


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=Channel.Kind.choices, initial=Channel.Kind.DINGTALK, label="Kind")
    name = forms.CharField(max_length=64, help_text="A name you will recognise, e.g. “trading group”.")
    webhook_url = forms.CharField(
        label="DingTalk webhook URL", max_length=1000, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "https://oapi.dingtalk.com/robot/send?access_token=…"}),
        help_text="DingTalk only: the robot's webhook, with its access token.")
    secret = forms.CharField(
        label="DingTalk signing secret", max_length=200, required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "SEC…"}),
        help_text="DingTalk only: robot security settings → Additional signature.")
    apprise_url = forms.CharField(
        label="Apprise URL", max_length=2000, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "tgram://bottoken/chat_id"}),
        help_text="Any other service: Telegram, Slack, Discord, email, JSON webhook … as an Apprise URL.")
    events = forms.MultipleChoiceField(choices=[(e, EVENT_LABELS[e]) for e in EVENTS], initial=list(EVENTS),
                                       widget=forms.CheckboxSelectMultiple, required=False)
    min_severity = forms.ChoiceField(choices=[(s, s.capitalize()) for s in SEVERITIES], initial="info",
                                     label="Minimum severity")
