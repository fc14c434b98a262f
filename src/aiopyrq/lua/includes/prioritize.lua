--[[
  Adds items with a priority (includes/priority): at the back of their level, or
  delayed, then at the back of their level when due. Either way their level is
  kept in the levels hash, and the add is published on the channel named as the
  delayed items' key, where the gets that wait in Redis listen (see
  includes/delayed): they take again, and find the prioritised items, which
  their blocking command on the queue list does not see. Best effort (pcall).
]]
--- @include "includes/push"
--- @include "includes/now"
--- @include "includes/delayed"
--- @include "includes/priority"

-- keys: { set, levels, delayed }; members: the items' members (includes/priority).
-- A read of the level's end (or of the first delayed item) comes before the writes.
local function prioritize(keys, level, delay, items, members)
  if #items == 0 then
    return
  end
  if delay > 0 then
    delay_all(keys.delayed, now_ms() + delay, members)
  else
    place(keys.set, level, members, false)
    redis.pcall('PUBLISH', keys.delayed, now_ms())
  end
  local fields = {}
  for _, item in ipairs(items) do
    fields[#fields + 1] = item
    fields[#fields + 1] = level
  end
  push_all('HSET', keys.levels, fields)
end
