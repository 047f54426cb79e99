-- wrk script: send the request an http_proxy client sends to its proxy, i.e. an
-- absolute-form request line plus a Host header naming the same authority:
--     GET http://127.0.0.1:24080/ HTTP/1.1
--     Host: 127.0.0.1:24080
-- wrk connects to the URL given on its command line (the proxy); the target comes from
-- the environment:
--     ABS_URL   the absolute URL to request (default http://127.0.0.1:24080/)
--     ABS_HOST  the Host header (default: the authority of ABS_URL)
-- The request is the same every time; bench/wrk-distinct.lua makes every one different.
local target = os.getenv("ABS_URL") or "http://127.0.0.1:24080/"
local authority = os.getenv("ABS_HOST") or string.match(target, "^%a+://([^/]+)")

wrk.path = target
wrk.headers["Host"] = authority
