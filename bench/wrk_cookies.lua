-- wrk script: each request carries a Cookie header picked at random from a file of lines
-- (`wrk ... URL -- FILE`), so the server looks up many sessions, not one.
local cookies = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      cookies[#cookies + 1] = line
    end
  end
  math.randomseed(os.time() + #cookies)
end

function request()
  return wrk.format(nil, nil, { ["Cookie"] = cookies[math.random(#cookies)] })
end
