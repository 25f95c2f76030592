"""Drives fakeai's Assistants API (v2) with the official `openai` Python SDK: assistants CRUD and
pagination, threads and messages, a run polled to completion (usage, the assistant message in the
thread, its message_creation step), a function-tool run through requires_action and
submit_tool_outputs_and_poll, and a streamed run through the SDK's AssistantEventHandler (text
deltas concatenate to the final message, events in order). Every body is validated strictly with
the SDK's own models (tests/sdk/strict.py). Exits non-zero on any mismatch.

Usage: python assistants_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import io
import sys
import warnings

import openai
from openai import AssistantEventHandler
from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep

from strict import validate
from checking import check, passed

warnings.simplefilter("ignore", DeprecationWarning)
base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)
beta = client.beta


def raw(call, *args, **kwargs):
    """The raw JSON body of an SDK call made through `with_raw_response`."""
    return call(*args, **kwargs).http_response.json()


def sdk(model, obj):
    """Validates an SDK-returned object strictly from the JSON it was built from."""
    return validate(model, obj.model_dump(mode="json", exclude_unset=True), model.__name__)


def text_of(message):
    return "".join(block.text.value for block in message.content if block.type == "text")


# Assistants: create, retrieve, modify, list with cursors, delete.
made = [
    validate(Assistant, raw(beta.assistants.with_raw_response.create, model="gpt-4o-mini", name=f"a{i}",
                            instructions="Be brief.", metadata={"n": str(i)}))
    for i in range(3)
]
check(made[0].id.startswith("asst_") and made[0].tools == [] and made[0].name == "a0", f"{made[0]}")
got = validate(Assistant, raw(beta.assistants.with_raw_response.retrieve, made[1].id))
check(got.id == made[1].id and got.instructions == "Be brief.", f"{got}")
changed = validate(Assistant, raw(beta.assistants.with_raw_response.update, made[1].id, name="renamed",
                                  temperature=0.5))
check(changed.name == "renamed" and changed.temperature == 0.5 and changed.model == "gpt-4o-mini", f"{changed}")
page = beta.assistants.list(limit=2, order="asc")
check([a.id for a in page.data] == [made[0].id, made[1].id] and page.has_more, f"{page}")
every = [a.id for a in beta.assistants.list(limit=1, order="asc")]
check(every[:3] == [a.id for a in made], f"auto-paging: {every}")
gone = validate(AssistantDeleted, raw(beta.assistants.with_raw_response.delete, made[2].id))
check(gone.deleted and gone.id == made[2].id, f"{gone}")
try:
    beta.assistants.retrieve(made[2].id)
    check(False, "a deleted assistant is gone")
except openai.NotFoundError as e:
    check(e.body["code"] == "not_found", f"{e.body}")
try:
    beta.assistants.create(model="gpt-4o-mini", temperature=3)
    check(False, "temperature 3 is refused")
except openai.BadRequestError as e:
    check(e.body["param"] == "temperature", f"{e.body}")
try:
    beta.assistants.create(model="gpt-4o-mini", tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}})
    check(False, "an unknown vector store is refused")
except openai.NotFoundError as e:
    check("vs_nope" in e.body["message"], f"{e.body}")

# Threads and messages.
f = client.files.create(file=("notes.txt", io.BytesIO(b"Some notes.")), purpose="assistants")
thread = validate(Thread, raw(beta.threads.with_raw_response.create, messages=[
    {"role": "user", "content": "Hello there, tell me a story.", "attachments": [
        {"file_id": f.id, "tools": [{"type": "file_search"}]}]}], metadata={"k": "v"}))
check(thread.id.startswith("thread_") and thread.metadata == {"k": "v"}, f"{thread}")
msgs = beta.threads.messages.list(thread.id)
check(len(msgs.data) == 1 and msgs.data[0].role == "user" and msgs.data[0].attachments[0].file_id == f.id,
      f"{msgs}")
sdk(Message, msgs.data[0])
added = validate(Message, raw(beta.threads.messages.with_raw_response.create, thread.id, role="user",
                              content=[{"type": "text", "text": "And make it short."}]))
check(added.status == "completed" and text_of(added) == "And make it short.", f"{added}")
validate(Message, raw(beta.threads.messages.with_raw_response.update, added.id, thread_id=thread.id,
                      metadata={"edited": "yes"}))
validate(Thread, raw(beta.threads.with_raw_response.update, thread.id, metadata={"k": "w"}))

# A run polled to completion: usage, the assistant message, a message_creation step.
assistant = made[0]
run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
run = sdk(Run, run)
check(run.status == "completed" and run.usage is not None and run.usage.completion_tokens > 0, f"{run}")
check(run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens, f"{run.usage}")
check(run.instructions == "Be brief." and run.model == "gpt-4o-mini", f"{run}")
validate(Run, raw(beta.threads.runs.with_raw_response.retrieve, run.id, thread_id=thread.id))
msgs = beta.threads.messages.list(thread.id, order="asc")
check([m.role for m in msgs.data] == ["user", "user", "assistant"], f"{msgs}")
reply = validate(Message, raw(beta.threads.messages.with_raw_response.retrieve, msgs.data[2].id, thread_id=thread.id))
check(reply.run_id == run.id and reply.assistant_id == assistant.id and reply.status == "completed"
      and len(text_of(reply)) > 0, f"{reply}")
by_run = beta.threads.messages.list(thread.id, run_id=run.id)
check([m.id for m in by_run.data] == [reply.id], f"run_id filter: {by_run}")
steps = beta.threads.runs.steps.list(run.id, thread_id=thread.id)
check(len(steps.data) == 1, f"{steps}")
step = validate(RunStep, raw(beta.threads.runs.steps.with_raw_response.retrieve, steps.data[0].id,
                             thread_id=thread.id, run_id=run.id))
check(step.type == "message_creation" and step.step_details.message_creation.message_id == reply.id
      and step.status == "completed" and step.usage.completion_tokens == run.usage.completion_tokens, f"{step}")
runs = beta.threads.runs.list(thread.id)
check([r.id for r in runs.data] == [run.id], f"{runs}")

# create_and_poll of a thread: a new thread with the run's reply.
run2 = sdk(Run, beta.threads.create_and_run_poll(
    assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi!"}]}, poll_interval_ms=20))
check(run2.status == "completed" and run2.thread_id != thread.id, f"{run2}")
msgs2 = beta.threads.messages.list(run2.thread_id)
check([m.role for m in msgs2.data] == ["assistant", "user"], f"newest first: {msgs2}")

# A function tool: requires_action, then outputs, then a completed run with the answer.
weather = validate(Assistant, raw(beta.assistants.with_raw_response.create, model="gpt-4o-mini", tools=[
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]}}}]))
tthread = beta.threads.create(messages=[{"role": "user", "content": "What is the weather in Paris?"}])
waiting = sdk(Run, beta.threads.runs.create_and_poll(thread_id=tthread.id, assistant_id=weather.id,
                                                     poll_interval_ms=20))
check(waiting.status == "requires_action" and waiting.usage is None, f"{waiting}")
calls = waiting.required_action.submit_tool_outputs.tool_calls
check(len(calls) == 1 and calls[0].function.name == "get_weather" and "city" in calls[0].function.arguments,
      f"{calls}")
try:
    beta.threads.messages.create(tthread.id, role="user", content="more")
    check(False, "no messages while a run is active")
except openai.BadRequestError as e:
    check("active" in e.body["message"], f"{e.body}")
done = sdk(Run, beta.threads.runs.submit_tool_outputs_and_poll(
    run_id=waiting.id, thread_id=tthread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "22C sunny"}],
    poll_interval_ms=20))
check(done.status == "completed" and done.usage.completion_tokens > 0, f"{done}")
tsteps = beta.threads.runs.steps.list(done.id, thread_id=tthread.id, order="asc")
check([s.type for s in tsteps.data] == ["tool_calls", "message_creation"], f"{tsteps}")
for s in tsteps.data:
    sdk(RunStep, s)
call_step = tsteps.data[0].step_details.tool_calls[0]
check(call_step.function.output == "22C sunny" and tsteps.data[0].status == "completed", f"{call_step}")
check(beta.threads.messages.list(tthread.id).data[0].role == "assistant", "the answer follows the outputs")


# Streaming with the SDK's event handler.
class Collect(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.names = []
        self.deltas = []

    def on_event(self, event):
        self.names.append(event.event)

    def on_text_delta(self, delta, snapshot):
        self.deltas.append(delta.value)


sthread = beta.threads.create(messages=[{"role": "user", "content": "Tell me something."}])
handler = Collect()
with beta.threads.runs.stream(thread_id=sthread.id, assistant_id=assistant.id, event_handler=handler) as s:
    s.until_done()
    final_messages = s.get_final_messages()
    final_run = s.get_final_run()
names = handler.names
check(names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"], f"{names}")
check(names[3:7] == ["thread.run.step.created", "thread.run.step.in_progress", "thread.message.created",
                     "thread.message.in_progress"], f"{names}")
check(names[-3:] == ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"], f"{names}")
check(names.count("thread.message.delta") == len(handler.deltas) > 0, f"{names}")
check(final_run.status == "completed" and final_run.usage.completion_tokens > 0, f"{final_run}")
streamed = "".join(handler.deltas)
check(len(final_messages) == 1 and text_of(final_messages[0]) == streamed, f"{final_messages} vs {streamed!r}")
stored = beta.threads.messages.list(sthread.id).data[0]
check(text_of(stored) == streamed and stored.status == "completed", f"{stored}")

# A streamed function-tool run, then streamed outputs.
sthread2 = beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
with beta.threads.runs.stream(thread_id=sthread2.id, assistant_id=weather.id) as s:
    s.until_done()
    waiting = s.get_final_run()
check(waiting.status == "requires_action", f"{waiting}")
call = waiting.required_action.submit_tool_outputs.tool_calls[0]
handler = Collect()
with beta.threads.runs.submit_tool_outputs_stream(
        run_id=waiting.id, thread_id=sthread2.id, event_handler=handler,
        tool_outputs=[{"tool_call_id": call.id, "output": "cold"}]) as s:
    s.until_done()
check(handler.names[0] == "thread.run.step.completed" and handler.names[-1] == "thread.run.completed", f"{handler.names}")
check(text_of(beta.threads.messages.list(sthread2.id).data[0]) == "".join(handler.deltas), "streamed answer stored")

# Deleting a thread.
gone = validate(ThreadDeleted, raw(beta.threads.with_raw_response.delete, thread.id))
check(gone.deleted, f"{gone}")
try:
    beta.threads.messages.list(thread.id)
    check(False, "a deleted thread's messages are gone")
except openai.NotFoundError:
    check(True, "")

passed()
