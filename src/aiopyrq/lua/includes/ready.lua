--[[
  Scripts fail before they write. Before its first write, a script calls `ready`
  with every command it may run and the type of each of its keys:

  - a command the user may not run (ACL) fails the script with
    "NOPERM aiopyrq: this user may not run CMD". redis.acl_check_cmd exists on
    Redis 7.0+ and Valkey; on Redis 6.2 the command itself is refused where the
    script calls it. EVAL checks the user's access to every key of KEYS before the
    script starts, so the commands are checked without their keys;
  - a key of another type fails it with "WRONGTYPE aiopyrq: KEY is a T, not a U"
    (a key that does not exist is of any type).

  Out of memory, Redis refuses a script's first write only, so a script whose
  reads, checks and TIME come first leaves state as it was on every error.
]]
local acl_check_cmd = redis.acl_check_cmd

-- commands: the commands the script may run; types: key, type, key, type ...
local function ready(commands, types)
  if acl_check_cmd then
    if #types > 0 then
      commands[#commands + 1] = 'TYPE'
    end
    for _, command in ipairs(commands) do
      if not acl_check_cmd(command) then
        error({ err = 'NOPERM aiopyrq: this user may not run ' .. command })
      end
    end
  end
  for i = 1, #types, 2 do
    local found = rcall('TYPE', types[i])['ok']
    if found ~= 'none' and found ~= types[i + 1] then
      error({ err = 'WRONGTYPE aiopyrq: ' .. types[i] .. ' is a ' .. found .. ', not a ' .. types[i + 1] })
    end
  end
end
