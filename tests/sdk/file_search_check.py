"""The `file_search` tool executed, as the official `openai` SDK drives it: two files on distinct
topics go into a vector store; a search and then a Responses call (plain and streamed) whose
question matches one file rank that file first and cite it; the same through an Assistants run.
Every body and event is validated strictly with the SDK's own models (tests/sdk/strict.py).

Usage: python file_search_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import io
import sys
import warnings

import openai
from openai.types import VectorStore, VectorStoreSearchResponse
from openai.types.beta import Assistant
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep
from openai.types.responses import Response, ResponseStreamEvent

import strict
from checking import check, passed

warnings.simplefilter("ignore", DeprecationWarning)
base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)

BREAD = ("Sourdough bread needs a lively starter. Feed the starter flour and water, let the dough rise "
         "overnight, shape the loaf and bake the bread in a hot Dutch oven until the crust is dark.")
SAILING = ("Sailing a yacht upwind means trimming the mainsail and jib, tacking through the wind, and "
           "reading the waves and the weather forecast before leaving the harbour.")
QUESTION = "How do I bake sourdough bread with a starter and a dough that rises overnight?"


def raw(call, *args, **kwargs):
    """The raw JSON body of an SDK call made through `with_raw_response`."""
    return call(*args, **kwargs).http_response.json()


def response_body(body, what):
    """A Responses object validated strictly, with every field the SDK models present."""
    missing = [k for k in Response.model_fields if k not in body]
    check(not missing, f"{what}: fields the SDK models are missing: {missing}")
    return strict.validate(Response, body, what)


# Two files on distinct topics, one store.
bread = client.files.create(file=("bread.txt", io.BytesIO(BREAD.encode())), purpose="assistants")
sailing = client.files.create(file=("sailing.txt", io.BytesIO(SAILING.encode())), purpose="assistants")
vs = strict.validate(VectorStore, raw(client.vector_stores.with_raw_response.create, name="kb"))
for f in (bread, sailing):
    done = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=f.id)
    check(done.status == "completed", f"file {f.filename} indexed: {done.status}")

# The search endpoint ranks the bread file first for the question.
page = raw(client.vector_stores.with_raw_response.search, vector_store_id=vs.id, query=QUESTION)
hits = [strict.validate(VectorStoreSearchResponse, h, "search hit") for h in page["data"]]
check(hits and hits[0].file_id == bread.id, f"search ranks bread first: {[h.filename for h in hits]}")

# A Responses call with file_search: the call item first, with results, then a cited answer.
TOOL = {"type": "file_search", "vector_store_ids": [vs.id], "max_num_results": 5}
body = raw(client.responses.with_raw_response.create, model="gpt-4o", input=QUESTION, tools=[TOOL],
           include=["file_search_call.results"], max_output_tokens=4000)
r = response_body(body, "file_search response")
call, message = r.output[0], r.output[-1]
check(call.type == "file_search_call" and call.status == "completed" and call.id.startswith("fs_"), f"{call}")
check(call.queries == [QUESTION], f"the query is the question: {call.queries}")
check(call.results and call.results[0].file_id == bread.id and call.results[0].filename == "bread.txt",
      f"bread ranks first: {call.results}")
check(call.results[0].text and "starter" in call.results[0].text, "results carry the chunk's text")
check(len(call.results) <= 5 and all(0 <= x.score <= 1 for x in call.results), "scores within [0, 1]")
check(message.type == "message" and message.status == "completed", f"the answer follows: {message.type}")
text = message.content[0]
cites = [a for a in text.annotations if a.type == "file_citation"]
check(cites and cites[0].file_id == bread.id and cites[0].filename == "bread.txt", f"bread is cited: {cites}")
check(all(0 <= a.index <= len(text.text) for a in cites), "citations point into the text")
check(all(a.file_id != sailing.id for a in cites), f"the unrelated file is not cited: {cites}")
check(r.output_text == text.text, "output_text is the answer")

# Without `include`, the call reports no results but the answer still cites.
r = response_body(raw(client.responses.with_raw_response.create, model="gpt-4o", input=QUESTION,
                      tools=[TOOL], max_output_tokens=20), "without include")
check(r.output[0].type == "file_search_call" and r.output[0].results is None, f"{r.output[0]}")
check(r.output[-1].content[0].annotations[0].file_id == bread.id, "cited without include")
usage_with = r.usage.input_tokens
r = client.responses.create(model="gpt-4o", input=QUESTION, max_output_tokens=20)
check(usage_with > r.usage.input_tokens, f"retrieved text counts as input: {usage_with} vs {r.usage.input_tokens}")

# tool_choice none: no search.
r = client.responses.create(model="gpt-4o", input=QUESTION, tools=[TOOL], tool_choice="none", max_output_tokens=5)
check(all(o.type != "file_search_call" for o in r.output), "tool_choice none does not search")

# An unknown store: OpenAI's 404.
try:
    client.responses.create(model="gpt-4o", input=QUESTION, max_output_tokens=5,
                            tools=[{"type": "file_search", "vector_store_ids": ["vs_nope"]}])
    check(False, "unknown vector store accepted")
except openai.NotFoundError as e:
    check(e.status_code == 404 and "vs_nope" in e.message, f"unknown store: {e.message}")
try:
    client.responses.create(model="gpt-4o", input=QUESTION, tools=[{"type": "file_search"}])
    check(False, "file_search without vector_store_ids accepted")
except openai.BadRequestError as e:
    check(e.body.get("param") == "tools[0].vector_store_ids", f"missing ids: {e.body}")

# Streamed: the file search events, then the answer with its annotation event.
events = []
with client.responses.with_streaming_response.create(model="gpt-4o", input=QUESTION, tools=[TOOL], stream=True,
                                                     include=["file_search_call.results"],
                                                     max_output_tokens=20) as s:
    for name, data in strict.sse_events(s.iter_lines()):
        ev = strict.validate(ResponseStreamEvent, data, f"event {name}")
        check(name == ev.type, f"event line {name} names {ev.type}")
        if hasattr(ev, "response"):
            response_body(data["response"], ev.type)
        events.append(ev)
kinds = [e.type for e in events]
check([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers count up")
searching = ["response.file_search_call.in_progress", "response.file_search_call.searching",
             "response.file_search_call.completed"]
start = kinds.index(searching[0])
check(kinds[start:start + 3] == searching and kinds[start - 1] == "response.output_item.added", f"{kinds[:8]}")
check(all(e.output_index == 0 for e in events[start:start + 3]), "the search is output 0")
added = [e for e in events if e.type == "response.output_text.annotation.added"]
check(added and added[0].annotation.file_id == bread.id and added[0].output_index == 1, f"{added}")
final = events[-1].response
check(final.output[0].results[0].file_id == bread.id, "the final response carries the results")
text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
check(final.output[1].content[0].text == text and final.output[1].content[0].annotations, "streamed text cited")

# An Assistants run: a file_search step (results with content when included), then the cited answer.
beta = client.beta
assistant = strict.validate(Assistant, raw(
    beta.assistants.with_raw_response.create, model="gpt-4o-mini", tools=[{"type": "file_search"}],
    tool_resources={"file_search": {"vector_store_ids": [vs.id]}}), "assistant")
thread = beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
strict.validate(Run, raw(beta.threads.runs.with_raw_response.retrieve, run.id, thread_id=thread.id), "run")
check(run.status == "completed", f"run: {run.status}")
INCLUDE = ["step_details.tool_calls[*].file_search.results[*].content"]
page = raw(beta.threads.runs.steps.with_raw_response.list, run.id, thread_id=thread.id, order="asc", include=INCLUDE)
steps = [strict.validate(RunStep, s, "step") for s in page["data"]]
check([s.type for s in steps] == ["tool_calls", "message_creation"], f"steps: {[s.type for s in steps]}")
call = steps[0].step_details.tool_calls[0]
check(call.type == "file_search" and steps[0].status == "completed", f"{call}")
results = call.file_search.results
check(results and results[0].file_id == bread.id and results[0].file_name == "bread.txt", f"{results}")
check(results[0].content and "starter" in results[0].content[0].text, "included results carry their content")
plain = strict.validate(RunStep, raw(beta.threads.runs.steps.with_raw_response.retrieve, steps[0].id,
                                     thread_id=thread.id, run_id=run.id), "step without include")
check(plain.step_details.tool_calls[0].file_search.results[0].content is None, "content only when included")
answer = strict.validate(Message, raw(beta.threads.messages.with_raw_response.retrieve,
                                      steps[1].step_details.message_creation.message_id, thread_id=thread.id),
                         "answer")
block = answer.content[0].text
cites = [a for a in block.annotations if a.type == "file_citation"]
check(cites and cites[0].file_citation.file_id == bread.id, f"the answer cites bread: {block}")
check(all(block.value[a.start_index:a.end_index] == a.text for a in cites), f"markers where annotated: {block}")
check(all(a.file_citation.file_id != sailing.id for a in cites), "the unrelated file is not cited")

# Streamed: the search step's events come first, the markers in the last text delta.
sthread = beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
with beta.threads.runs.stream(thread_id=sthread.id, assistant_id=assistant.id) as s:
    s.until_done()
    final = s.get_final_messages()
    run_steps = s.get_final_run_steps()
check(run_steps[0].type == "tool_calls" and run_steps[0].step_details.tool_calls[0].type == "file_search",
      f"{run_steps}")
streamed = final[0].content[0].text
check(streamed.annotations and streamed.annotations[0].file_citation.file_id == bread.id, f"{streamed}")
stored = beta.threads.messages.list(sthread.id).data[0].content[0].text
check(stored.value == streamed.value, f"stream and store agree: {stored.value!r} vs {streamed.value!r}")

passed("file_search: ")
