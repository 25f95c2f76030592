// The official openai Node SDK against fakeai: chat (plain, streamed with usage), Responses
// streaming, embeddings (base64 decoded by the SDK), models, and a typed 404.
// Usage: node openai_check.mjs BASE_URL   (prints `checks passed`)
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2].replace(/\/$/, "") + "/v1", apiKey: "sk-test", maxRetries: 0 });
const messages = [{ role: "user", content: "Say hello" }];

const reply = await client.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 12 });
assert.ok(reply.choices[0].message.content);
assert.equal(reply.usage.completion_tokens, 12);

const stream = await client.chat.completions.create({
  model: "gpt-4o-mini", messages, max_tokens: 12, stream: true, stream_options: { include_usage: true },
});
let text = "", usage = null;
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? "";
  usage = chunk.usage ?? usage;
}
assert.ok(text.length > 0);
assert.equal(usage.completion_tokens, 12);

const events = [];
const responses = client.responses.stream({ model: "gpt-4o-mini", input: "Say hello", max_output_tokens: 16 });
for await (const event of responses) events.push(event.type);
const final = await responses.finalResponse();
assert.equal(events[0], "response.created");
assert.ok(events.includes("response.output_text.delta"));
assert.ok(final.output_text.length > 0);

const vectors = await client.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] });
assert.equal(vectors.data.length, 2);
assert.equal(vectors.data[0].embedding.length, 1536);

const models = [];
for await (const model of client.models.list()) models.push(model.id);
assert.ok(models.includes("gpt-4o-mini"));

await assert.rejects(client.files.retrieve("file-missing"), OpenAI.NotFoundError);
console.log("openai-node: chat, streamed chat with usage, responses stream, embeddings, models, 404");
console.log("checks passed");
