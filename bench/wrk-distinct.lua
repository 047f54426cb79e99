-- Absolute-form requests whose target differs every time (?n=1, ?n=2, ...), so no two
-- request heads are the same and l5d parses every one (its request-head memo never hits).
-- The target comes from the environment, as for bench/wrk-absform.lua (ABS_URL, ABS_HOST).
local url = os.getenv("ABS_URL") or "http://127.0.0.1:24080/"
local host = os.getenv("ABS_HOST") or "127.0.0.1:24080"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", url .. "?n=" .. n, { ["Host"] = host })
end
