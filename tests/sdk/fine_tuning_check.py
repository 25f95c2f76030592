"""Drives fakeai's fine-tuning with the official `openai` Python SDK, the whole workflow: upload a
`fine-tune` file, create a job, poll it to success through validating_files → queued → running,
read its events, checkpoints and result file, chat with the `ft:` model (and a checkpoint's),
delete the model and get a 404. Pause, resume, cancel, failure, the DPO and reinforcement
methods and the errors too. Every body is validated strictly against the SDK's models.

Usage: python fine_tuning_check.py BASE_URL EXPECTED_TOKENS_PER_EPOCH
"""
import io
import json
import sys
import time

import openai
from openai.types import Model, ModelDeleted
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from checking import check, passed
from strict import validate

base_url, tokens_per_epoch = sys.argv[1], int(sys.argv[2])
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)
raw = client.with_raw_response


def job_of(response):
    """The job a raw response holds, validated strictly."""
    return validate(FineTuningJob, json.loads(response.text), "job")


def examples(n, word="hello"):
    lines = []
    for i in range(n):
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"{word} number {i}"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


def upload(content, name="train.jsonl"):
    return client.files.create(file=(name, io.BytesIO(content)), purpose="fine-tune")


def wait(job_id, until=("succeeded", "failed", "cancelled"), seen=None, limit=30):
    """Polls the job until its status is one of `until`; every status seen goes into `seen`."""
    deadline = time.time() + limit
    while True:
        job = job_of(raw.fine_tuning.jobs.retrieve(job_id))
        if seen is not None and (not seen or seen[-1] != job.status):
            seen.append(job.status)
        if job.status in until:
            return job
        check(time.time() < deadline, f"job {job_id} reached {until} in time: {job.status}")
        time.sleep(0.05)


training = upload(examples(12))
validation = upload(examples(10, "bonjour"), "valid.jsonl")

# Errors: the files must exist and be fine-tune files, the model fine-tunable, the values in range.
other = client.files.create(file=("notes.txt", io.BytesIO(b"hi")), purpose="user_data")
for kwargs, param in [
    ({"training_file": other.id}, "training_file"),
    ({"training_file": "file-nope"}, "training_file"),
    ({"training_file": training.id, "validation_file": other.id}, "validation_file"),
    ({"training_file": training.id, "model": "whisper-1"}, "model"),
    ({"training_file": training.id, "suffix": "has:colon"}, "suffix"),
    ({"training_file": training.id, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
     "method.supervised.hyperparameters.n_epochs"),
    ({"training_file": training.id, "method": {"type": "reinforcement"}}, "method.reinforcement.grader"),
]:
    kwargs.setdefault("model", "gpt-4o-mini")
    try:
        client.fine_tuning.jobs.create(**kwargs)
        check(False, f"{kwargs} is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.body["param"] == param, f"400 on {param}: {e.body}")

# The workflow: create, poll to success.
job = job_of(raw.fine_tuning.jobs.create(
    model="gpt-4o-mini-2024-07-18",
    training_file=training.id,
    validation_file=validation.id,
    suffix="demo",
    seed=7,
    method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    metadata={"team": "search"},
    integrations=[{"type": "wandb", "wandb": {"project": "fakeai", "tags": ["ci"]}}],
))
check(job.status == "validating_files" and job.id.startswith("ftjob-"), f"created {job}")
check(job.fine_tuned_model is None and job.trained_tokens is None and job.seed == 7, "nothing trained yet")
check(job.hyperparameters.n_epochs == 3 and job.hyperparameters.batch_size == "auto", f"as asked {job.hyperparameters}")
check(job.integrations[0].wandb.project == "fakeai" and job.metadata == {"team": "search"}, "echoed")
seen = []
done = wait(job.id, seen=seen)
check(seen[-1] == "succeeded", f"succeeded: {done.error}")
check(all(s in seen for s in ("queued", "running")), f"the lifecycle is visible: {seen}")
check(done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:fakeai:demo:"), done.fine_tuned_model)
check(done.trained_tokens == 3 * tokens_per_epoch, f"trained_tokens {done.trained_tokens} = 3 x {tokens_per_epoch}")
check(done.finished_at >= done.created_at and done.estimated_finish is None, "finished")
check(done.hyperparameters.batch_size == 1 and done.hyperparameters.learning_rate_multiplier == 1.8, "autos resolved")
check(done.method.supervised.hyperparameters.n_epochs == 3, "method echoes them")
ft = done.fine_tuned_model

# Events: newest first, paginated; the training loss falls step by step.
events = [validate(FineTuningJobEvent, e.model_dump(mode="json", exclude_unset=True), "event")
          for e in client.fine_tuning.jobs.list_events(done.id, limit=4)]
check(len({e.id for e in events}) == len(events) > 8, f"every event, auto-paginated: {len(events)}")
check(events[0].message == "The job has successfully completed", events[0].message)
check(events[-1].message == f"Created fine-tuning job: {done.id}", events[-1].message)
page = raw.fine_tuning.jobs.list_events(done.id, limit=2)
body = json.loads(page.text)
check(body["has_more"] and len(body["data"]) == 2, "limit and has_more")
for e in body["data"]:
    validate(FineTuningJobEvent, e)
metrics = [e for e in reversed(events) if e.type == "metrics"]
losses = [e.data["train_loss"] for e in metrics]
check(len(metrics) >= 3 and all(b < a for a, b in zip(losses, losses[1:])), f"falling loss {losses}")
check(all("valid_loss" in e.data for e in metrics), "validation metrics with a validation file")
total = metrics[-1].data["total_steps"]
check(metrics[-1].data["step"] == total == 36, f"12 examples x 3 epochs in batches of 1: {total}")

# Checkpoints: one per epoch, newest first, each a model of its own.
checkpoints = json.loads(raw.fine_tuning.jobs.checkpoints.list(done.id).text)["data"]
checkpoints = [validate(FineTuningJobCheckpoint, c, "checkpoint") for c in checkpoints]
check([c.step_number for c in checkpoints] == [36, 24, 12], f"checkpoint steps {[c.step_number for c in checkpoints]}")
check(all(c.fine_tuned_model_checkpoint == f"{ft}:ckpt-step-{c.step_number}" and c.fine_tuning_job_id == done.id
          for c in checkpoints), "checkpoint model ids")
check(checkpoints[0].metrics.train_loss < checkpoints[-1].metrics.train_loss, "later checkpoints fit better")
page = client.fine_tuning.jobs.checkpoints.list(done.id, limit=1)
check(page.has_more and len(page.data) == 1, "checkpoints paginate")

# The result file: a real CSV, a row per step.
check(len(done.result_files) == 1, f"result files {done.result_files}")
result = client.files.retrieve(done.result_files[0])
check(result.purpose == "fine-tune-results" and result.filename == "step_metrics.csv", f"result file {result}")
rows = client.files.content(result.id).text.splitlines()
check(rows[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy" and len(rows) == 37, rows[:2])

# The model is listed and served, streaming too, as are its checkpoints.
listed = {m["id"]: m for m in json.loads(raw.models.list().text)["data"]}
check(ft in listed and checkpoints[1].fine_tuned_model_checkpoint not in listed, "the model is listed, checkpoints not")
validate(Model, listed[ft], "listed model")
model = validate(Model, json.loads(raw.models.retrieve(ft).text), "model")
check(model.owned_by == "fakeai" and model.created == done.finished_at, f"model {model}")
chat = validate(ChatCompletion, json.loads(raw.chat.completions.create(
    model=ft, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=5).text), "chat")
check(chat.model == ft and chat.usage.completion_tokens <= 5, f"chat with the ft model {chat.model}")
chunks = list(client.chat.completions.create(model=ft, messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                             stream=True, stream_options={"include_usage": True}))
for c in chunks:
    validate(ChatCompletionChunk, c.model_dump(mode="json", exclude_unset=True), "chunk")
check(all(c.model == ft for c in chunks) and chunks[-1].usage is not None, "streams with the ft model")
text = client.completions.create(model=ft, prompt="Say", max_tokens=3, stream=True)
check(all(c.model == ft for c in text), "completions stream with the ft model")
ckpt = checkpoints[1].fine_tuned_model_checkpoint
check(client.chat.completions.create(model=ckpt, messages=[{"role": "user", "content": "hi"}],
                                     max_tokens=2).model == ckpt, "a checkpoint's model is served")

# Listing: newest first, paginated, filtered by metadata.
second = job_of(raw.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id))
listed_jobs = json.loads(raw.fine_tuning.jobs.list(limit=1).text)
check(listed_jobs["has_more"] and listed_jobs["data"][0]["id"] == second.id, "newest first")
validate(FineTuningJob, listed_jobs["data"][0])
check([j.id for j in client.fine_tuning.jobs.list(limit=1)][:2] == [second.id, done.id], "auto-pagination")
check([j.id for j in client.fine_tuning.jobs.list(metadata={"team": "search"})] == [done.id], "metadata filter")

# Cancel: at once, final; a second cancel is refused.
cancelled = job_of(raw.fine_tuning.jobs.cancel(second.id))
check(cancelled.status == "cancelled" and cancelled.finished_at is not None, f"cancelled {cancelled.status}")
try:
    client.fine_tuning.jobs.cancel(second.id)
    check(False, "a cancelled job cannot be cancelled again")
except openai.BadRequestError as e:
    check(e.status_code == 400, f"400 {e}")
time.sleep(0.5)
check(client.fine_tuning.jobs.retrieve(second.id).status == "cancelled", "a cancelled job stays cancelled")

# Pause while running (it shows queued, no estimate), resume, and it still succeeds.
third = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id,
                                       method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 5}}})
wait(third.id, until=("running",))
paused = job_of(raw.fine_tuning.jobs.pause(third.id))
check(paused.status == "queued" and paused.estimated_finish is None, f"paused {paused.status}")
time.sleep(0.6)
check(client.fine_tuning.jobs.retrieve(third.id).status == "queued", "a paused job waits")
resumed = job_of(raw.fine_tuning.jobs.resume(third.id))
check(resumed.status == "running" and resumed.estimated_finish >= resumed.created_at, f"resumed {resumed.status}")
try:
    client.fine_tuning.jobs.resume(third.id)
    check(False, "a running job cannot be resumed")
except openai.BadRequestError as e:
    check(e.status_code == 400, f"400 {e}")

# DPO and reinforcement jobs; a file with too few examples fails.
pair = {"input": {"messages": [{"role": "user", "content": "Pick one"}]},
        "preferred_output": [{"role": "assistant", "content": "This one."}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}]}
dpo_file = upload(("\n".join(json.dumps(pair) for _ in range(10)) + "\n").encode(), "dpo.jsonl")
dpo = job_of(raw.fine_tuning.jobs.create(model="gpt-4o", training_file=dpo_file.id,
                                         method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}))
check(dpo.method.type == "dpo" and dpo.method.dpo.hyperparameters.beta == 0.2, f"dpo {dpo.method}")
grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}
rl = job_of(raw.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id, method={
    "type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": {"reasoning_effort": "low"}}}))
check(rl.method.reinforcement.grader.type == "string_check", f"reinforcement {rl.method}")
small = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(examples(3)).id)
failed = wait(small.id)
check(failed.status == "failed" and failed.error.code == "invalid_n_examples" and failed.error.param == "training_file",
      f"too few examples: {failed.error}")
wrong_shape = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id, method={"type": "dpo"})
check(wait(wrong_shape.id).error.code == "invalid_file_format", "a chat file is no DPO file")
check(wait(dpo.id).status == "succeeded" and wait(rl.id).status == "succeeded", "dpo and reinforcement succeed")
check(wait(third.id).status == "succeeded", "the resumed job succeeds")

# Delete the model: gone from the list, 404 when used; a base model is not ours to delete.
deleted = validate(ModelDeleted, json.loads(raw.models.delete(ft).text), "deleted")
check(deleted.deleted and deleted.id == ft, f"deleted {deleted}")
check(ft not in [m.id for m in client.models.list()], "no longer listed")
for call in (lambda: client.chat.completions.create(model=ft, messages=[{"role": "user", "content": "hi"}]),
             lambda: client.completions.create(model=ft, prompt="x", stream=True),
             lambda: client.models.retrieve(ft),
             lambda: client.models.delete(ft),
             lambda: client.chat.completions.create(model="ft:gpt-4o-mini:fakeai::never",
                                                 messages=[{"role": "user", "content": "hi"}])):
    try:
        call()
        check(False, "a deleted or unknown ft: model is a 404")
    except openai.NotFoundError as e:
        check(e.body["code"] == "model_not_found", f"model_not_found {e.body}")
check(client.fine_tuning.jobs.retrieve(done.id).fine_tuned_model == ft, "the job still names its model")
try:
    client.models.delete("gpt-4o-mini")
    check(False, "a base model cannot be deleted")
except openai.PermissionDeniedError as e:
    check(e.status_code == 403, f"403 {e}")

passed("fine-tuning: ")
