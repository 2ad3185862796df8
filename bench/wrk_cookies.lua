-- wrk script: each request carries a Cookie header from a file of lines (`wrk ... URL -- FILE`),
-- taken in turn, so the server looks up many sessions, not one. The requests are formatted once,
-- in `init`: formatting one per request in Lua would make wrk, not the server, the bottleneck.
local requests = {}
local turn = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format(nil, nil, { ["Cookie"] = line })
    end
  end
  -- Threads (and runs) start at different places in the list.
  math.randomseed(os.time() + #requests)
  turn = math.random(#requests) - 1
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end
