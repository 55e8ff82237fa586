from django import forms

from notifications.models import EVENTS, FILL_DIGEST_MAX_MINUTES, FILL_DIGEST_MINUTES, SEVERITIES, Channel

EVENT_LABELS = {"fills": "Fills", "risk": "Risk events", "kill_switch": "Kill switch",
                "promotion": "Promotion to live",
                "daily_summary": "Daily summary of your bots (00:05 UTC)",
                "security": "Security: failed sign-in attempts on your account"}


class TargetInput(forms.TextInput):
    """Plain text while typing, so a user sees what they pasted; never written back into a page (the URL holds
    the robot's token): after a refused save the field is empty again, after a save the masked URL is shown."""

    def format_value(self, value):
        return None


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=Channel.Kind.choices, initial=Channel.Kind.DINGTALK, label="Kind")
    name = forms.CharField(max_length=64, help_text="A name you will recognise, e.g. “trading group”.")
    webhook_url = forms.CharField(
        label="DingTalk webhook URL", max_length=1000, required=False,
        widget=TargetInput(attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "url",
                                   "placeholder": "https://oapi.dingtalk.com/robot/send?access_token=…"}),
        help_text="DingTalk only: the robot's webhook, with its access token. Once saved it is shown with the "
                  "token masked.")
    secret = forms.CharField(
        label="DingTalk signing secret", max_length=200, required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "SEC…"}),
        help_text="DingTalk only: robot security settings → Additional signature.")
    apprise_url = forms.CharField(
        label="Apprise URL", max_length=2000, required=False,
        widget=TargetInput(attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "url",
                                   "placeholder": "tgram://bottoken/chat_id"}),
        help_text="Any other service: Telegram, Slack, Discord, email, JSON webhook … as an Apprise URL.")
    events = forms.MultipleChoiceField(choices=[(e, EVENT_LABELS[e]) for e in EVENTS], initial=list(EVENTS),
                                       widget=forms.CheckboxSelectMultiple, required=False)
    min_severity = forms.ChoiceField(choices=[(s, s.capitalize()) for s in SEVERITIES], initial="info",
                                     label="Minimum severity")
    fill_digest_minutes = forms.IntegerField(
        label="Fill digest (minutes)", required=False, min_value=0, max_value=FILL_DIGEST_MAX_MINUTES, initial=FILL_DIGEST_MINUTES,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="Fills of one bot arrive at most once per this many minutes, summarised; 0 sends every fill. "
                  "Risk and kill-switch alerts are always sent at once.")
