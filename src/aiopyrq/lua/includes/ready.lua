--[[
  Scripts fail before they write. Before its first write, a script calls `ready`
  with every command it may run: one the user may not run (ACL) fails the script
  with "NOPERM aiopyrq: this user may not run CMD" while nothing is written yet.
  redis.acl_check_cmd exists on Redis 7.0+ and Valkey; on Redis 6.2 a refused
  command fails where the script calls it. EVAL itself checks the user's access
  to every key of KEYS before the script starts, so commands are checked alone.

  A key of the wrong type must fail the script before its first write too: each
  script reads every key it writes before its first write (LLEN, HLEN, ZSCORE
  ... or TYPE through includes/types), or writes it first. Out of memory, Redis
  refuses a script's first write only. So on every error, state is as it was.
]]
local acl_check_cmd = redis.acl_check_cmd

local function ready(commands)
  if acl_check_cmd then
    for i = 1, #commands do
      if not acl_check_cmd(commands[i]) then
        error({ err = 'NOPERM aiopyrq: this user may not run ' .. commands[i] })
      end
    end
  end
end
