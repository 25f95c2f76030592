-- wrk script: POST the JSON body in $BODY_FILE (default: a 64-token non-streaming chat).
local f = os.getenv("BODY_FILE")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if f then
  local h = io.open(f, "r"); wrk.body = h:read("*a"); h:close()
else
  wrk.body = '{"model":"m","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true}'
end
