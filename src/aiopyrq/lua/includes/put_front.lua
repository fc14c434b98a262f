--[[
  Puts items back at the front of the queue (a reject, a recovery): an item that
  has a level at the front of it (includes/priority), the others at the front of
  the list.
]]
--- @include "includes/push"
--- @include "includes/priority"
--- @include "includes/delayed"

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
-- the call's key, the members' prefix as a delayed member's, includes/delayed) }.
local function put_front(queue, levels, items)
  local rest = place_levels(levels.set, items, delayed_members(items, levels.call), levels.found,
    true)
  push_all('RPUSH', queue, reversed(rest))
end
