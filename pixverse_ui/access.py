"""Who may generate, with which key: the app's rules, kept apart from gradio to test easily.

- No key on the host: simulator mode; every browser gets its own simulator identity.
- A host key, run locally: visitors may use it, or their own.
- A host key on a Hugging Face Space (``SPACE_ID``), or a private app reached from outside (see
  below): visitors bring their own key, unless the host opts in
  (``PIXVERSE_UI_SHARE_HOST_KEY=1``) or the app is behind Gradio auth.
- ``PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY=1``: on a public page where the host key would be shared,
  only people signed in (with Hugging Face, or through the login) may spend it; others bring
  their own key.

Who sees which history (:meth:`App.caller`): a logged-in person sees their login name's, and a
person signed in with Hugging Face their username's, whoever pays; otherwise a key sees its own,
and people without a key see their visitor token's on a public page, the host's on a private one
(the same history ``pixverse-ui list`` shows on that machine, simulator mode included). A visitor
token is one the app issued and signed (``visitors.py``; the page gets one when it loads, an API
or MCP caller from ``visitor_token``), never a name the caller picks. A caller on a public page
with no key, no login and no token the app signed is anonymous: its history is its own call's
alone, and it may not spend a shared key. Keys are held in memory only (in the clients), never
written anywhere.

Private or public: an app started on loopback without ``--share`` believes it is private. A
request that reached it through a proxy or a tunnel (it carries ``X-Forwarded-For``,
``Forwarded``, ``X-Forwarded-Host`` or ``X-Real-IP``, or a ``Host`` that does not name this
machine: :func:`came_from_outside`) is a stranger's all the same, and meets a public page's rules
(:meth:`Mode.from_outside`): their own key unless the host shares it, their own history, the
ceiling. ``PIXVERSE_UI_PRIVATE_PROXY=1`` says the proxy lets only the host in.

What a shared host key may spend (:meth:`App.start`): the host's daily ceiling for everyone
(``budget.host_ceiling``), each owner's daily budget, and per client a few jobs at once and a
few starts a minute (``ratelimit.py``), counted by identity and by network address.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from . import errors
from .budget import (
    DEFAULT_HOST_CEILING_USD,
    HOST_BUDGET_ENV,
    Budget,
    parse_dollars,
    quote,
    spent_today,
)
from .client import Client, is_loopback
from .clock import REAL_CLOCK, Clock
from .defaults import SIMULATOR_KEY, host_key, machine_key, simulator_client
from .jobs import Job, Jobs
from .params import Params
from .polling import DEFAULT_TIMEOUT
from .pricing import dollars, is_simulated
from .ratelimit import RateLimiter, RateRule, Ticket
from .redact import register_secret, register_sent_key
from .store import JobRecord, Ledger, default_home
from .variations import Refused, start_each
from .visitors import VisitorTokens

SHARE_HOST_KEY_ENV = "PIXVERSE_UI_SHARE_HOST_KEY"
AUTH_ENV = "PIXVERSE_UI_AUTH"
#: How many proxies stand in front of the app and append to ``X-Forwarded-For`` (a Space: 1).
PROXY_HOPS_ENV = "PIXVERSE_UI_PROXY_HOPS"
SIGNED_IN_ONLY_ENV = "PIXVERSE_UI_HOST_KEY_SIGNED_IN_ONLY"
#: The host says the proxy or tunnel in front of an app on loopback lets only them in.
PRIVATE_PROXY_ENV = "PIXVERSE_UI_PRIVATE_PROXY"
#: Headers a proxy or tunnel adds: a request that has one came from beyond this machine.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
#: What Gradio's Hugging Face sign-in needs: a Space (``SYSTEM=spaces``, ``SPACE_ID``) and the OAuth
#: app the Space makes for ``hf_oauth: true``. Without them Gradio would fake the sign-in with the
#: machine's own Hugging Face account, asking huggingface.co, so the button is left off.
OAUTH_ENV = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")
SIGN_IN_TO_SHARE = (
    "Sign in with Hugging Face to use this Space's key, or enter your own AI/ML API key"
)
NO_SIGN_IN_HERE = (
    "This app's key is kept for people signed in with Hugging Face, and sign-in is not set up "
    "here (a Space needs hf_oauth: true in its README): enter your own AI/ML API key"
)
#: What the host hears, on the page and in the log, when strangers reach a private app.
OUTSIDE_FOR_THE_HOST = (
    f"If only you can reach it through your proxy, set {PRIVATE_PROXY_ENV}=1 where it runs; to "
    f"share your key with the people who reach it, {SHARE_HOST_KEY_ENV}=1 (with a daily ceiling "
    f"for all of them together) and {PROXY_HOPS_ENV}=1, so each is counted by their own address."
)
#: What a key may look like: RFC 6750's token characters, 8 to 256 of them. A key with a space or
#: a quote in it is a paste gone wrong, and refusing it keeps keys findable by redaction.
KEY_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{8,256}\Z")
#: Visitors' clients kept at once (two connection pools each); the least recently used go first.
MAX_CLIENTS = 256


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def auth_from_env() -> list[tuple[str, str]] | None:
    """``PIXVERSE_UI_AUTH="user:password[,user2:password2]"`` as Gradio's ``auth`` list."""
    text = os.environ.get(AUTH_ENV, "").strip()
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise errors.ValidationError(
                f"{AUTH_ENV} must look like user:password[,user2:password2].", field=AUTH_ENV
            )
        pairs.append((user, password))
    return pairs


@dataclass(frozen=True)
class Mode:
    """How this app was started.

    ``public``: strangers can reach the page (a Space, ``--share``, or listening beyond loopback).
    There, people who spend the host's key (or the simulator) without logging in each get their
    own history, per browser; on a private page the host is the one person using it.
    ``sign_in``: Hugging Face sign-in works here (a Space with ``hf_oauth: true``).
    ``signed_in_only``: on a public page, the host's key is for signed-in (or logged-in) people
    only.
    """

    host_key: str | None
    on_space: bool
    share_host_key: bool
    has_auth: bool
    public: bool = False
    #: ``PIXVERSE_UI_HOST_DAILY_BUDGET``: None when unset (see :attr:`host_ceiling_usd`).
    host_budget_usd: float | None = None
    #: What one client may start on a shared key (``PIXVERSE_UI_MAX_RUNNING`` and
    #: ``PIXVERSE_UI_STARTS_PER_MINUTE``).
    rate: RateRule = field(default_factory=RateRule)
    #: Proxies in front of the app (``PIXVERSE_UI_PROXY_HOPS``; on a Space 1, else 0).
    proxy_hops: int = 0
    sign_in: bool = False
    signed_in_only: bool = False
    #: ``PIXVERSE_UI_PRIVATE_PROXY``: a proxy in front of this private app lets only the host in.
    private_proxy: bool = False
    #: The rules for a request that reached a private app from beyond this machine
    #: (:meth:`from_outside`): public, and the host's key is not shared unless the host says so.
    outside: bool = False

    @classmethod
    def from_env(cls, *, has_auth: bool = False, public: bool = False) -> Mode:
        """Read the mode from the environment (``public`` as the launch says, or on a Space).

        A malformed setting is a ``ValidationError`` with a sentence, before anything serves."""
        on_space = bool(os.environ.get("SPACE_ID"))
        key = host_key()
        register_secret(key, pin=True)
        hops = os.environ.get(PROXY_HOPS_ENV, "").strip() or ("1" if on_space else "0")
        if not hops.isdigit():
            raise errors.ValidationError(
                f"{PROXY_HOPS_ENV} must be a whole number (0: no proxy); got {hops[:12]!r}.",
                field=PROXY_HOPS_ENV,
            )
        return cls(
            host_key=key,
            on_space=on_space,
            share_host_key=_truthy(os.environ.get(SHARE_HOST_KEY_ENV)),
            has_auth=has_auth,
            public=public or on_space,
            host_budget_usd=parse_dollars(HOST_BUDGET_ENV, os.environ.get(HOST_BUDGET_ENV)),
            rate=RateRule.from_env(),
            proxy_hops=int(hops),
            sign_in=on_space
            and os.environ.get("SYSTEM") == "spaces"
            and all(os.environ.get(name) for name in OAUTH_ENV),
            signed_in_only=_truthy(os.environ.get(SIGNED_IN_ONLY_ENV)),
            private_proxy=_truthy(os.environ.get(PRIVATE_PROXY_ENV)),
        )

    def from_outside(self) -> Mode:
        """The rules for a request from beyond this machine (:func:`came_from_outside`): a
        public page's, as on a Space, where the app believed it was private; the same rules
        where it is public already, or where the host set ``PIXVERSE_UI_PRIVATE_PROXY``."""
        if self.public or self.private_proxy:
            return self
        return replace(self, public=True, outside=True)

    @property
    def simulator(self) -> bool:
        return self.host_key is None

    @property
    def visitors_need_own_key(self) -> bool:
        """Visitors bring their own key: on a Space, or reached from outside though private,
        unless the host shares the key (``PIXVERSE_UI_SHARE_HOST_KEY``) or has a login."""
        return (
            not self.simulator
            and (self.on_space or self.outside)
            and not self.share_host_key
            and not self.has_auth
        )

    @property
    def host_key_shared(self) -> bool:
        """Whether strangers may spend the host's key: a public page that does not ask them
        for their own (a Space that shares it or has a login, ``--share``, a public address)."""
        return not self.simulator and self.public and not self.visitors_need_own_key

    @property
    def host_ceiling_usd(self) -> float | None:
        """What the host key may pay in a day for everyone: the setting, else on a shared key
        ``DEFAULT_HOST_CEILING_USD``; None for no ceiling (the host alone spends it)."""
        if self.host_budget_usd is not None:
            return self.host_budget_usd
        return DEFAULT_HOST_CEILING_USD if self.host_key_shared else None

    def ceiling_words(self) -> str:
        """What the shared key allows, for the banner and the start-up lines ("" if not shared)."""
        if not self.host_key_shared:
            return ""
        ceiling = self.host_ceiling_usd
        spend = (
            f"up to {dollars(ceiling)} a day in all"
            + ("" if self.host_budget_usd is not None else f" (the default; set {HOST_BUDGET_ENV})")
            if ceiling is not None
            else "with no daily ceiling"
        )
        return (
            f"Everyone here shares the host's key, {spend}; each visitor may run "
            f"{self.rate.max_running} at once and start {self.rate.starts_per_minute} a minute."
        )

    def private_words(self) -> str:
        """What the start-up lines say of a private app's rule for strangers ("" if public)."""
        if self.public or self.private_proxy:
            return ""
        return (
            "This app is private: whoever reaches it shares your history and your key, with no "
            "daily ceiling. A request that comes through a proxy or tunnel (X-Forwarded-For, "
            "Forwarded, or a Host that is not this machine) meets a public page's rules "
            f"instead. {OUTSIDE_FOR_THE_HOST}"
        )

    @property
    def host_key_needs_sign_in(self) -> bool:
        """The host's key would be shared with strangers, but only with people who signed in."""
        return (
            self.signed_in_only
            and self.public
            and not self.simulator
            and not self.visitors_need_own_key
        )

    def sign_in_refusal(self) -> str:
        """What an anonymous visitor without a key hears when the key is for signed-in people."""
        return SIGN_IN_TO_SHARE if self.sign_in else NO_SIGN_IN_HERE

    def banner(self) -> str:
        """The sentence at the top of the page."""
        if self.outside:
            return self._outside_banner()
        if self.simulator:
            shared = (
                " Each browser has its own history here."
                if self.public
                else " The history below is this machine's, the same as `pixverse-ui list`."
            )
            return (
                "**Simulator mode.** No `AIMLAPI_KEY` is set, so videos come from the built-in "
                "simulator: nothing is sent to PixVerse, and its dollar figures are simulated: "
                "nothing is charged, and no daily limit counts them. Set "
                "`AIMLAPI_KEY` on the host to make real videos." + shared
            )
        if self.visitors_need_own_key:
            return (
                "**Bring your own key.** This Space does not share its owner's AI/ML API key: "
                "enter yours under *Your AI/ML API key*. It is used for your requests only and, if "
                "you tick *remember*, kept in this browser; never on the server."
            )
        if self.host_key_needs_sign_in and not self.has_auth:
            if not self.sign_in:
                return f"**Bring your own key.** {NO_SIGN_IN_HERE}, under *Your AI/ML API key*."
            return (
                "**Sign in to use this Space's key.** Generations use the AI/ML API and cost "
                "credits. The owner's key is for people signed in with Hugging Face, each with "
                "their own history and daily budget: sign in, or enter your own key under *Your "
                "AI/ML API key*."
            )
        shared = f" {self.ceiling_words()}" if self.host_key_shared else ""
        live = (
            "**Live mode.** Generations use the AI/ML API and cost credits. Enter your own key "
            "under *Your AI/ML API key*, or the host's key is used." + shared
        )
        if self.sign_in and not self.has_auth:
            return live + " Sign in with Hugging Face to keep your history across browsers."
        return live

    def _outside_banner(self) -> str:
        if self.simulator:
            rule = "it runs on the built-in simulator (nothing is charged), each browser with "
            rule += "its own history"
        elif self.visitors_need_own_key:
            rule = "enter your own AI/ML API key under *Your AI/ML API key* (the host's is not "
            rule += "shared); each key and each browser has its own history"
        else:
            rule = self.ceiling_words().rstrip(".") + "; each browser has its own history"
        return (
            "**Reached through a proxy or tunnel.** This app was started as private (on this "
            f"machine only), so this page is treated as public: {rule}. {OUTSIDE_FOR_THE_HOST}"
        )


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as far as the app can tell."""

    #: Its network address, as the socket or the proxy in front of the app says.
    address: str | None = None
    #: It came from beyond this machine (:func:`came_from_outside`).
    outside: bool = False


@dataclass(frozen=True)
class Caller:
    """Who is asking: the client that spends their key, and whose history they see."""

    client: Client
    #: The ledger's name for them: a salted hash of their key, login name, Hugging Face username
    #: or browser id.
    owner: str
    #: The ledger's name for the key that pays (a salted hash).
    payer: str = ""
    #: They spend the host's key on a page that shares it: ceilinged and rate-limited.
    shared: bool = False
    #: No key, no login, no browser id, on a public page: an identity of this call alone.
    anonymous: bool = False
    #: Their network address, as the socket or the proxy in front of the app says.
    address: str | None = None
    #: The rules they meet: the app's, or for a stranger who reached a private app from outside,
    #: a public page's (:meth:`Mode.from_outside`).
    mode: Mode | None = None

    @property
    def simulated(self) -> bool:
        """Their money is pretend: their client is the built-in simulator's. The one rule every
        face asks (no limit counts it, and its figures are said as the simulator's)."""
        return is_simulated(self.client.label)


def came_from_outside(headers: Mapping[str, str]) -> str | None:
    """Why a request came from beyond this machine: the header of a proxy or tunnel it carries,
    or ``Host`` when that names another machine; None for a request from this machine (what a
    browser or script on loopback sends, and Gradio's own MCP bridge, which passes on the
    agent's headers). ``headers`` has lower-case names, as Starlette gives them."""
    for name in FORWARDING_HEADERS:
        if str(headers.get(name) or "").strip():
            return name
    host = str(headers.get("host") or "").strip()
    if not host:
        return None
    try:
        parts = urlsplit(f"//{host}")
        hostname, _ = parts.hostname or "", parts.port  # the port is checked when read
    except ValueError:  # a port that is not a number, brackets that do not close
        return "host"
    return None if is_loopback(hostname) else "host"


def clean_key(value: object) -> str | None:
    """A key as typed or sent, checked for shape; None when empty. Never echoes the value."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.AuthenticationError(
            f"The API key must be text, not {type(value).__name__}.",
            hint="Paste your AI/ML API key into the key field, or send it in X-AIMLAPI-Key.",
        )
    key = value.strip()
    if not key:
        return None
    if not KEY_SHAPE.match(key):
        raise errors.AuthenticationError(
            "That does not look like an AI/ML API key: a key is 8 to 256 letters, digits or "
            "the signs . _ ~ + / = -, with no spaces.",
            hint="Copy the key again from your AI/ML API dashboard. Nothing was sent.",
        )
    register_sent_key(key)
    return key


def clean_name(value: object, label: str) -> str | None:
    """A visitor id or login name: text of at most 256 characters, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise errors.ValidationError(f"{label} must be text of at most 256 characters.")
    return value


class App:
    """What every visitor shares: the mode, the ledger and videos folder their jobs go to, the
    budgets and rate that bound them, and their clients."""

    #: Visitors' clients kept at once (an instance may set its own).
    max_clients: int = MAX_CLIENTS

    def __init__(
        self,
        mode: Mode,
        ledger: Ledger,
        download_dir: Path,
        *,
        budget: Budget | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.mode = mode
        self.ledger = ledger
        self.download_dir = download_dir
        #: Each owner's daily budget (``PIXVERSE_UI_DAILY_BUDGET``).
        self.budget = budget or Budget()
        self.limiter = RateLimiter(mode.rate, clock=clock)
        #: The visitor tokens this app issues, signed with the secret beside its ledger.
        self.tokens = VisitorTokens(ledger.path.parent)
        self._clients: OrderedDict[str, Client] = OrderedDict()
        self._lock = threading.Lock()
        self._outside_said = False

    @classmethod
    def local(
        cls,
        ledger: Ledger | None = None,
        download_dir: Path | str | None = None,
        *,
        budget: Budget | None = None,
    ) -> App:
        """The app of this machine's own person, as the command line, a notebook and the library
        see it: a private page's rules, the environment's settings (``PIXVERSE_UI_DAILY_BUDGET``
        unless ``budget`` is given: a malformed one is a ``ValidationError``), the default
        ledger and videos folder unless given."""
        from .defaults import default_ledger, videos_dir

        return cls(
            Mode.from_env(),
            ledger or default_ledger(),
            Path(download_dir) if download_dir is not None else videos_dir(),
            budget=Budget.from_env() if budget is None else budget,
        )

    def caller_for(self, client: Client) -> Caller:
        """Who is asking, when they bring their own client (the command line, a notebook, the
        library): that key's history, paid by that key, never ceilinged (a shared key is shared
        through the page alone). The default client's key is this machine's, so its history is
        the one a private page shows (:meth:`machine_owner`)."""
        owner = self.ledger.owner_of(client.owner_key)
        return Caller(client, owner, payer=owner, mode=self.mode)

    def today_words(self, caller: Caller | None = None) -> str:
        """What ``caller`` (else this machine's person) spent today against their daily limit,
        in words (the simulator's as pretend money, which no limit counts)."""
        owner = caller.owner if caller is not None else self.machine_owner()
        simulated = caller.simulated if caller is not None else self.mode.simulator
        return self.budget.today(self.ledger, owner, simulated=simulated).summary()

    def machine_owner(self) -> str:
        """Whose history this machine's person sees (the command line, a notebook, a private
        page), learnt without a client: the host key's, else the simulator's."""
        return self.ledger.owner_of(machine_key(self.mode.host_key))

    @property
    def outside_mode(self) -> Mode:
        """The rules for requests from beyond this machine (:meth:`Mode.from_outside`)."""
        return self.mode.from_outside()

    def visitor_token(self, held: object = None) -> str:
        """``held`` if it is a token this app signed, else a fresh one: what a page keeps, and
        what an API or MCP caller sends back as ``visitor``."""
        if self.tokens.visitor_of(held) is not None:
            assert isinstance(held, str)
            return held
        return self.tokens.issue()

    def note_outside(self, header: str) -> None:
        """Tell the host, once, that a stranger reached this private app (``header`` said so)."""
        with self._lock:
            if self.outside_mode is self.mode or self._outside_said:
                return
            self._outside_said = True
        print(
            f"A request reached this app through a proxy or tunnel (it carried {header}), though "
            "it was started as private (on loopback, without --share). Such requests now meet a "
            "public page's rules: their own key unless the host shares it, their own history, a "
            f"daily ceiling. {OUTSIDE_FOR_THE_HOST}",
            file=sys.stderr,
            flush=True,
        )

    def private_paths(self) -> list[Path]:
        """Folders that hold the ledger and other people's files: never to be served."""
        paths = {default_home(), self.ledger.path.parent, self.download_dir}
        return sorted(path.expanduser().resolve() for path in paths)

    def caller(
        self,
        key: object,
        visitor_id: object = None,
        username: object = None,
        *,
        signed_in: object = None,
        origin: Origin = Origin(),
    ) -> Caller:
        """Who is asking, and with which key; a sentence (``PixVerseError``) if they may not.

        ``signed_in`` is a Hugging Face username (Gradio's OAuth), ``username`` a login name,
        ``visitor_id`` a visitor token (one this app did not sign is none); ``origin`` their
        address, and whether they came from beyond this machine (:func:`came_from_outside`).

        - their own key: they spend it; their history is that key's (the login name's or the
          Hugging Face username's, if any);
        - no key: the host's key (or the simulator) where allowed; their history is their login
          name's, else their Hugging Face username's, else on a public page their browser's, else
          (a private page) the host's. With no browser id either, on a public page, they are
          anonymous (see the module's text).
        """
        mode = self.outside_mode if origin.outside else self.mode
        own = clean_key(key)
        token = clean_name(visitor_id, "The visitor id")
        user = clean_name(username, "The login name")
        person = clean_name(signed_in, "The Hugging Face username")
        if own is not None:
            client = self._client(own, simulator=mode.simulator)
        elif mode.simulator:
            client = self._client(SIMULATOR_KEY, simulator=True)
        elif mode.visitors_need_own_key:
            raise errors.AuthenticationError(
                f"This {'Space' if mode.on_space else 'app'} needs your own AI/ML API key",
                hint="Enter it under “Your AI/ML API key”; it is used for your requests only.",
            )
        elif mode.host_key_needs_sign_in and user is None and person is None:
            raise errors.AuthenticationError(mode.sign_in_refusal(), hint="Nothing was sent.")
        else:
            assert mode.host_key is not None
            client = self._client(mode.host_key, simulator=False)
        anonymous = False
        visitor = self.tokens.visitor_of(token) if mode.public and token is not None else None
        if user is not None:
            identity = f"user:{user}"
        elif person is not None:
            identity = f"hf:{person}"
        elif own is not None:
            identity = own
        elif visitor is not None:
            identity = f"visitor:{visitor}"
        elif mode.public:  # an API or MCP call with no token the app signed: this call alone
            identity, anonymous = f"anonymous:{secrets.token_hex(16)}", True
        else:  # a private page is one person's: this machine's history (`pixverse-ui list`'s)
            identity = machine_key(mode.host_key)
        return Caller(
            client,
            self.ledger.owner_of(identity),
            payer=self.ledger.owner_of(client.owner_key),
            shared=own is None and mode.host_key_shared,
            anonymous=anonymous,
            address=origin.address,
            mode=mode,
        )

    # --- starting: what a caller may spend --------------------------------------------------------

    def budget_for(self, caller: Caller) -> Budget:
        """The limits a caller's starts meet: their owner's budget, and on a shared host key the
        host's ceiling on what that key pays for everyone."""
        if caller.shared:
            return self.budget.for_payer(self._mode_of(caller).host_ceiling_usd)
        return self.budget

    def _mode_of(self, caller: Caller | None) -> Mode:
        return caller.mode if caller is not None and caller.mode is not None else self.mode

    def ceiling_today(self, caller: Caller | None = None) -> str:
        """``The shared key has $3.20 of its $5.00 a day left for everyone.`` ("" if no ceiling),
        under the rules ``caller`` meets (the app's without one)."""
        ceiling = self._mode_of(caller).host_ceiling_usd
        if ceiling is None or self.mode.host_key is None:
            return ""
        payer = self.ledger.owner_of(self.mode.host_key)
        left = max(0.0, ceiling - spent_today(self.ledger, payer=payer).usd)
        return (
            f"The shared key has {dollars(left)} of its {dollars(ceiling)} a day left for everyone."
        )

    def quote(self, caller: Caller | None, variants: Sequence[Params]) -> str:
        """What ``variants`` would cost (``budget.quote``), with what the caller has spent today
        and, on a shared key, what its ceiling leaves; without a caller, the cost alone."""
        owner = caller.owner if caller is not None else None
        simulated = self.mode.simulator if caller is None else caller.simulated
        text = quote(variants, self.ledger, self.budget, owner, simulated=simulated).text()
        if (
            caller is not None
            and caller.shared
            and self._mode_of(caller).host_ceiling_usd is not None
        ):
            text += f" {self.ceiling_today(caller)}"
        return text

    def check_start(self, caller: Caller, variants: Sequence[Params]) -> None:
        """Say before anything starts what :meth:`start` would refuse for money: an anonymous
        caller on a shared key, or a cost (at the safe price) over a budget or the ceiling."""
        self._refuse_anonymous(caller)
        self.budget_for(caller).check_start(
            self.ledger,
            caller.owner,
            variants,
            payer=caller.payer,
            simulated=caller.simulated,
        )

    def jobs_for(
        self, client: Client, budget: Budget | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Jobs:
        """The service for ``client``'s jobs: this app's ledger and videos folder, ``budget``,
        each watch bounded by ``timeout``."""
        return Jobs(client, self.ledger, self.download_dir, budget, timeout)

    def start(
        self, caller: Caller, variants: Sequence[Params], *, batch: str | None = None
    ) -> list[Job | Refused]:
        """Start ``variants`` for ``caller``, one after another; returns their jobs, each with
        its id, watched in the background.

        On a shared key the caller's rate is checked first, for all of them together
        (``TooManyStartsError``), and each job is held against it while it runs. Each start is
        checked against the budgets in the ledger's insert transaction: one that does not fit
        (or that the API refuses) is returned as a ``variations.Refused`` in its place, and the
        others are still tried; when none started, the first refusal is raised
        (``variations.start_each``). ``check_start`` says beforehand whether all fit.
        """
        self._refuse_anonymous(caller)
        self.resume_for(caller)  # what they left unfinished is watched again too
        budget = self.budget_for(caller)
        if not caller.shared:
            return start_each(lambda v: self._start(v, caller, budget, batch), variants)
        with self.admit(caller, len(variants)) as ticket:

            def held(variant: Params) -> Job:
                job = self._start(variant, caller, budget, batch)
                ticket.hold(job)
                return job

            return start_each(held, variants)

    def admit(self, caller: Caller, count: int) -> Ticket:
        """Reserve ``count`` starts of a caller on a shared key under its rate (by owner and by
        network address), or raise ``TooManyStartsError``; hand each started job to the ticket."""
        names = [(f"owner:{caller.owner}", "by you")]
        if caller.address:
            names.append((f"address:{caller.address}", "from your network address"))
        return self.limiter.admit(names, count)

    def _start(self, variant: Params, caller: Caller, budget: Budget, batch: str | None) -> Job:
        return self.jobs_for(caller.client, budget).submit(variant, owner=caller.owner, batch=batch)

    def _refuse_anonymous(self, caller: Caller) -> None:
        if caller.anonymous and caller.shared:
            where = "Space" if self._mode_of(caller).on_space else "app"
            raise errors.AuthenticationError(
                f"A call with no key, no visitor id and no sign-in cannot spend this {where}'s "
                "shared key",
                hint="Send your own AI/ML API key in the X-AIMLAPI-Key header, or as visitor the "
                "token visitor_token gives you, or use the page. Nothing was sent.",
            )

    def _client(self, key: str, *, simulator: bool) -> Client:
        """One client per key, the least recently used dropped past ``max_clients``.

        A dropped client is not closed: a job may still be using it, and it goes with the job.
        """
        slot = ("sim:" if simulator else "live:") + self.ledger.owner_of(key)
        with self._lock:
            client = self._clients.get(slot)
            if client is None:
                client = simulator_client(key) if simulator else Client(api_key=key)
                self._clients[slot] = client
                while len(self._clients) > self.max_clients:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(slot)
            return client

    def resume_for(self, caller: Caller) -> int:
        """Watch in the background whatever this caller left unfinished with their key."""
        jobs = self.jobs_for(caller.client)
        return self._resume(jobs, jobs.unfinished(caller.owner))[0]

    def running(self, caller: Caller) -> list[Job]:
        """The caller's jobs still running on their key, newest first (as the ledger lists
        them), each watched (resumed if it was not): what a reloaded page follows. Nothing is
        sent but polls."""
        jobs = self.jobs_for(caller.client)
        return self._resume(jobs, jobs.unfinished(caller.owner))[1]

    def resume_host_jobs(self) -> int:
        """After a restart: resume what the host key (or the simulator) left unfinished."""
        key = machine_key(self.mode.host_key)
        jobs = self.jobs_for(self._client(key, simulator=self.mode.simulator))
        return self._resume(jobs, jobs.unfinished())[0]

    def _resume(self, jobs: Jobs, records: list[JobRecord]) -> tuple[int, list[Job]]:
        """Have each job with an id watched; one that already has (or had) a watcher keeps it.
        Returns how many had none, and the jobs in the order of ``records``."""
        count, watched = 0, []
        for record in records:
            if record.generation_id is None:
                continue
            if jobs.watched(record.generation_id) is None:
                count += 1
            watched.append(jobs.watch(record.generation_id, again=False))
        return count, watched
