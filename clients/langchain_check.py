"""langchain-openai against fakeai: invoke, stream, tool calls and structured output.

Usage: python langchain_check.py BASE_URL   (prints `checks passed`)
"""
import sys

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

base = sys.argv[1].rstrip("/") + "/v1"
llm = ChatOpenAI(model="gpt-4o-mini", base_url=base, api_key="sk-test", max_tokens=20, max_retries=0)

reply = llm.invoke("Say hello")
assert reply.content and reply.usage_metadata["output_tokens"] == 20, reply
assert reply.response_metadata["finish_reason"] == "length", reply.response_metadata

chunks = list(llm.stream([HumanMessage("Count to five")], stream_usage=True))
text = "".join(c.content for c in chunks)
usage = [c.usage_metadata for c in chunks if c.usage_metadata]
assert text and usage and usage[-1]["output_tokens"] == 20, (text, usage)


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


called = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Paris?")
assert called.tool_calls and called.tool_calls[0]["name"] == "get_weather", called
assert isinstance(called.tool_calls[0]["args"].get("city"), str), called.tool_calls


class Person(BaseModel):
    name: str
    age: int


person = ChatOpenAI(model="gpt-4o-mini", base_url=base, api_key="sk-test", max_retries=0) \
    .with_structured_output(Person).invoke("Invent a person")
assert isinstance(person, Person), person

# check_embedding_ctx_length=False: send the texts, not tiktoken ids (tiktoken would download its
# tables; the server counts tokens itself).
embedder = OpenAIEmbeddings(model="text-embedding-3-small", base_url=base, api_key="sk-test",
                            check_embedding_ctx_length=False)
vectors = embedder.embed_documents(["a", "b"])
assert len(vectors) == 2 and len(vectors[0]) == 1536, [len(v) for v in vectors]
print("langchain-openai: invoke, stream with usage, tool call, structured output, embeddings")
print("checks passed")
