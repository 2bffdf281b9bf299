"""A local stand-in for the few Stripe API calls svc_billing makes, so tests never touch
the internet. It answers like Stripe where the SDK or our code can tell the difference:
Bearer-key auth, form-encoded bodies, card errors as HTTP 402, idempotent replays.

    with StripeStandIn() as stripe_api:
        provider = StripeProvider(StripeStandIn.API_KEY, api_base=stripe_api.url)
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

Json = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: Json  # nested like Stripe reads it: "metadata[a]=1" -> {"metadata": {"a": "1"}}
    idempotency_key: str | None
    authorization: str | None


@dataclass
class _Answer:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


# Stripe's documented test payment methods: what confirming each one does.
_DECLINES = {
    "pm_card_chargeDeclined": ("insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
}
_SUCCEEDS = {"pm_card_visa", "pm_card_mastercard"}
_REQUIRES_ACTION = {"pm_card_authenticationRequired"}


def parse_form(body: str) -> Json:
    """Stripe's form encoding (a[b]=1, a[0]=x) back into nested dicts (list indexes as keys)."""
    parsed: Json = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        node = parsed
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return parsed


class StripeStandIn:
    API_KEY = "sk_test_standin"

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.customers: dict[str, Json] = {}
        self.payment_intents: dict[str, Json] = {}
        self.fail_next_with_500 = False  # the next request answers 500 (and says: don't retry)
        self.drop_next_response = False  # the next request is handled, its answer lost
        self._replays: dict[str, tuple[Json, _Answer]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "StripeStandIn is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeStandIn:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval keeps stop() (and each test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- request handling (under the lock: one request at a time is plenty) --

    def _handle(self, request: RecordedRequest) -> _Answer | None:
        """The answer to send, or None to drop the connection without one."""
        with self._lock:
            self.requests.append(request)
            if request.authorization != f"Bearer {self.api_key}":
                return _error(401, "invalid_request_error", _bad_key_message(request))
            if self.fail_next_with_500:
                self.fail_next_with_500 = False
                answer = _error(500, "api_error", "An unknown error occurred.")
                answer.headers["Stripe-Should-Retry"] = "false"
                return answer
            answer = self._idempotent(request)
            if self.drop_next_response:
                self.drop_next_response = False
                return None
            return answer

    def _idempotent(self, request: RecordedRequest) -> _Answer:
        key = request.idempotency_key
        if key and key in self._replays:
            form, first = self._replays[key]
            if form != request.form:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return _Answer(first.status, first.body, {"Idempotent-Replayed": "true"})
        answer = self._route(request)
        if key:
            self._replays[key] = (request.form, answer)
        return answer

    def _route(self, request: RecordedRequest) -> _Answer:
        if (request.method, request.path) == ("POST", "/v1/customers"):
            return self._create_customer(request.form)
        if (request.method, request.path) == ("POST", "/v1/payment_intents"):
            return self._create_payment_intent(request.form)
        return _error(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({request.method}: {request.path}).",
        )

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}{secrets.token_hex(4)}"

    def _create_customer(self, form: Json) -> _Answer:
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": form.get("email"),
            "name": form.get("name"),
            "description": form.get("description"),
            "metadata": form.get("metadata", {}),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return _Answer(200, customer)

    def _create_payment_intent(self, form: Json) -> _Answer:
        amount = form.get("amount", "")
        if not amount.isdigit() or int(amount) <= 0:
            return _error(400, "invalid_request_error", "Invalid integer: amount", param="amount")
        customer = form.get("customer")
        if customer is not None and customer not in self.customers:
            return _error(
                400,
                "invalid_request_error",
                f"No such customer: '{customer}'",
                param="customer",
                code="resource_missing",
            )
        method = form.get("payment_method")
        if method not in _SUCCEEDS | _REQUIRES_ACTION | set(_DECLINES):
            return _error(
                400,
                "invalid_request_error",
                f"No such PaymentMethod: '{method}'",
                param="payment_method",
                code="resource_missing",
            )
        intent: Json = {
            "id": self._new_id("pi"),
            "object": "payment_intent",
            "amount": int(amount),
            "amount_received": 0,
            "currency": form.get("currency"),
            "customer": customer,
            "payment_method": method,
            "description": form.get("description"),
            "metadata": form.get("metadata", {}),
            "capture_method": "automatic_async",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "livemode": False,
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "status": "requires_confirmation",
        }
        self.payment_intents[intent["id"]] = intent
        if form.get("confirm") != "true":
            return _Answer(200, intent)
        if method in _REQUIRES_ACTION:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return _Answer(200, intent)
        charge = self._new_id("ch")
        intent["latest_charge"] = charge
        if method in _DECLINES:
            decline_code, message = _DECLINES[method]
            failure = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
                "charge": charge,
            }
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = failure
            return _Answer(402, {"error": {**failure, "payment_intent": intent}})
        intent["status"] = "succeeded"
        intent["amount_received"] = int(amount)
        return _Answer(200, intent)


def _error(
    status: int, kind: str, message: str, *, param: str | None = None, code: str | None = None
) -> _Answer:
    body: Json = {"type": kind, "message": message}
    if param:
        body["param"] = param
    if code:
        body["code"] = code
    return _Answer(status, {"error": body})


def _bad_key_message(request: RecordedRequest) -> str:
    # Stripe redacts all but the last four characters of a wrong key.
    key = (request.authorization or "").removeprefix("Bearer ")
    if not key:
        return "You did not provide an API key."
    return f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"


def _handler_for(standin: StripeStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            recorded = RecordedRequest(
                method=self.command,
                path=path,
                form=parse_form(body or query),
                idempotency_key=self.headers.get("Idempotency-Key"),
                authorization=self.headers.get("Authorization"),
            )
            answer = standin._handle(recorded)
            if answer is None:
                self.close_connection = True  # the client sees the connection drop
                return
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_standin{secrets.token_hex(6)}")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    return Handler
