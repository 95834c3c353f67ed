-- wrk script: POST one small non-streaming chat completion on every request.
-- BENCH_AUTH (the gateway's master key) and BENCH_MODEL (default "bench") come from the
-- harness; the mock upstream ignores both.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
local model = os.getenv("BENCH_MODEL")
if model == nil or model == "" then
  model = "bench"
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'

-- One machine-readable line next to wrk's own report, with exact percentiles (in µs)
-- and the error counts, so the harness does not parse wrk's rounded, unit-suffixed text.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
