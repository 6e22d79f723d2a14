-- wrk script for bench/run.py: POSTs form-encoded token requests, cycling through the
-- bodies in the file named after `--` (one body per line), and prints the figures as one
-- machine-readable line at the end.
--
--   wrk ... -s bench/token.lua http://127.0.0.1:PORT/path -- bodies.txt

local bodies = {}
local next_body = 1

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no request bodies in " .. tostring(args[1]))
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }, body)
end

-- Latencies in microseconds. wrk counts a response with status >= 400 as errors.status;
-- connect, read, write and timeout are socket errors.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
