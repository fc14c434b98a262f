--[[
  Runs a script that changes state at most once per call, however often the call
  is sent: a client that retries after a lost reply, or a cluster client that
  sends a call again after a redirection, gets the first run's reply, and the
  script changes nothing more. The loader puts each such script's own source
  in the function below, and its number of keys in own_keys.

  Input:
    KEYS[1..n]  the script's own keys (n: the number its file name ends in)
    KEYS[n+1]   this call's key: holds the reply for a while after the run
    KEYS[n+2..] keys of earlier calls of the same consumer whose replies came
                back: deleted, so that a busy consumer keeps only a few
    ARGV        the script's own arguments

  Output:
    the script's reply

  The script may read `call_key`: a name unique to the call, the same when the
  call is sent again.
]]
local own_keys = @numkeys
local call_key = KEYS[own_keys + 1]

local function run_script()
--- @script
end

-- The wrapper's own commands, checked as the script's are (includes/ready).
if redis.acl_check_cmd then
  for _, command in ipairs({ 'GET', 'SET', 'DEL' }) do
    if not redis.acl_check_cmd(command) then
      return redis.error_reply('NOPERM aiopyrq: this user may not run ' .. command)
    end
  end
end

local kept = redis.call('GET', call_key)
if kept then
  return cmsgpack.unpack(kept)
end
local reply = run_script()
redis.call('SET', call_key, cmsgpack.pack(reply), 'PX', @ttl)
if #KEYS > own_keys + 1 then
  redis.call('DEL', unpack(KEYS, own_keys + 2))
end
return reply
