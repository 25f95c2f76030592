"""Webhooks from a running fakeai, received on a local endpoint and verified with the openai SDK's
`client.webhooks.unwrap` (the signature) and the event models (strictly).

Usage: python webhooks_check.py BASE_URL RECEIVER_PORT SECRET
The server runs with `--webhook-url http://127.0.0.1:PORT/hooks --webhook-url
http://127.0.0.1:PORT/flaky --webhook-secret SECRET`, an ITL that makes a 40-token response last
about a second, and a short `--fine-tuning-ms`. /flaky answers 500 to the first delivery of each
event, so every event must reach it twice, with the same id.
"""
import io
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai import OpenAI
from openai.types import webhooks as hooks

from checking import check, passed

base, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = OpenAI(base_url=base.rstrip("/") + "/v1", api_key="sk-test", max_retries=0)
received = {"/hooks": [], "/flaky": []}
flaky_seen = set()
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            received.setdefault(self.path, []).append((time.time(), headers, body))
            fail = self.path == "/flaky" and headers["webhook-id"] not in flaky_seen
            flaky_seen.add(headers["webhook-id"])
        self.send_response(500 if fail else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()


def events(path="/hooks"):
    """Every event delivered to `path`, verified and parsed by the SDK."""
    with lock:
        raw = list(received.get(path, []))
    return [(at, client.webhooks.unwrap(body, headers, secret=secret), headers, body) for at, headers, body in raw]


def wait_for(kind, object_id, limit=30):
    end = time.time() + limit
    while time.time() < end:
        for at, event, headers, body in events():
            if event.type == kind and event.data.id == object_id:
                return at, event, headers, body
        time.sleep(0.05)
    sys.exit(f"no {kind} webhook for {object_id} within {limit} s; got {[e.type for _, e, _, _ in events()]}")


MODELS = {
    "response.completed": hooks.ResponseCompletedWebhookEvent, "response.cancelled": hooks.ResponseCancelledWebhookEvent,
    "response.incomplete": hooks.ResponseIncompleteWebhookEvent, "batch.completed": hooks.BatchCompletedWebhookEvent,
    "fine_tuning.job.succeeded": hooks.FineTuningJobSucceededWebhookEvent,
    "fine_tuning.job.cancelled": hooks.FineTuningJobCancelledWebhookEvent,
}

# A background response: its event comes when it ends, not when it is queued.
started = time.time()
response = client.responses.create(model="gpt-4o-mini", input="Say hello", max_output_tokens=40, background=True,
                                   extra_body={"ignore_eos": True})
check(response.status == "queued", "a background response starts queued")
# Cut by max_output_tokens (ignore_eos), it ends `incomplete`, and its event says so.
at, event, headers, body = wait_for("response.incomplete", response.id)
check(at - started >= 0.8, f"response.incomplete came when the response ended ({at - started:.2f} s)")
check(client.responses.retrieve(response.id).status == "incomplete", "the response has ended when its event comes")

# A cancelled background response sends response.cancelled and never response.completed.
cancelled = client.responses.create(model="gpt-4o-mini", input="Say hello", max_output_tokens=40, background=True,
                                    extra_body={"ignore_eos": True})
client.responses.cancel(cancelled.id)
client.responses.cancel(cancelled.id)
wait_for("response.cancelled", cancelled.id)

# A batch that the jobs thread runs to completion.
lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
          "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}}
         for i in range(2)]
batch_file = client.files.create(file=("b.jsonl", io.BytesIO("\n".join(map(json.dumps, lines)).encode())), purpose="batch")
batch = client.batches.create(input_file_id=batch_file.id, endpoint="/v1/chat/completions", completion_window="24h")
wait_for("batch.completed", batch.id)
check(client.batches.retrieve(batch.id).status == "completed", "the batch is completed when its event comes")

# Fine-tuning: one job succeeds, one is cancelled.
examples = "\n".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]})
                     for i in range(10)).encode()
training = client.files.create(file=("train.jsonl", io.BytesIO(examples)), purpose="fine-tune")
job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
doomed = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
client.fine_tuning.jobs.cancel(doomed.id)
wait_for("fine_tuning.job.succeeded", job.id)
wait_for("fine_tuning.job.cancelled", doomed.id)

time.sleep(1.6)  # past the cancelled response's end, and the flaky endpoint's first retries
delivered = events()
for _, event, headers, body in delivered:
    model = MODELS[event.type]
    model.model_validate(json.loads(body), strict=True)
    check(headers["webhook-id"] == event.id and event.id.startswith("evt_"), f"{event.type}: webhook-id is the event id")
    check(headers["content-type"] == "application/json", f"{event.type}: JSON body")
kinds = sorted(e.type for _, e, _, _ in delivered)
check(kinds == sorted(["response.incomplete", "response.cancelled", "batch.completed", "fine_tuning.job.succeeded",
                       "fine_tuning.job.cancelled"]), f"each event exactly once, none for the cancelled response: {kinds}")
check(len({e.id for _, e, _, _ in delivered}) == len(delivered), "event ids are unique")

try:
    client.webhooks.unwrap(delivered[0][3], delivered[0][2], secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==")
    check(False, "a wrong secret is refused")
except Exception as e:  # noqa: BLE001 - the SDK's InvalidWebhookSignatureError
    check(type(e).__name__ == "InvalidWebhookSignatureError", "a wrong secret is refused")

flaky = events("/flaky")
by_id = {}
for at, event, _, _ in flaky:
    by_id.setdefault(event.id, []).append(at)
check(len(by_id) == len(delivered), "the flaky endpoint got every event")
check(all(len(t) == 2 and t[1] - t[0] >= 0.9 for t in by_id.values()),
      "after a 500 each event came again, with the same id, a second later")

passed("webhooks: ")
