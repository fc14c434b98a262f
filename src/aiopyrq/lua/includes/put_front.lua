--[[
  Puts items back at the front of the queue (a reject, a recovery): an item that
  has a level at the front of it (includes/priority), the others at the front of
  the list.
]]
--- @include "includes/push"
--- @include "includes/priority"

-- The members of items placed anew by one call (Queue: prefixed as delayed members
-- are, includes/delayed; UniqueQueue, call nil: the items).
local function level_members(items, call)
  if call == nil then
    return items
  end
  local base = string.sub(redis.sha1hex(call .. ':priority'), 1, DELAYED_PREFIX - 8)
  local members = {}
  for i, item in ipairs(items) do
    members[i] = base .. string.format('%08x', i) .. item
  end
  return members
end

-- The items of a list in the other order.
local function reversed(list)
  local other = {}
  for i = #list, 1, -1 do
    other[#other + 1] = list[i]
  end
  return other
end

-- Puts items back at the front of the queue, the first of them taken next: those
-- that have a level at the front of it. levels: { set, found (levels_of), call (Queue:
-- the members' prefix, see level_members) }.
local function put_front(queue, levels, items)
  local rest = place_levels(levels.set, items, level_members(items, levels.call), levels.found,
    true)
  push_all('RPUSH', queue, reversed(rest))
end
