--[[
  The get of Queue and UniqueQueue: moves the delayed items that are due to the
  end of the queue, then up to count items, oldest first, from the queue into a
  consumer's processing list, and renews its lease when it holds items (or
  always, with renew); the items taken count as delivered in the history (a
  get that takes nothing reads and writes no history).
]]
--- @include "includes/push"
--- @include "includes/now"
--- @include "includes/due"
--- @include "includes/history"
--- @include "includes/priority"

local MOVE_AT_LEAST = 100 -- due items moved per get, at least (count, if more)

-- Moves the due members to the end of the queue, or those with a level (found: see
-- levels_of) to the back of their level; returns how many went to the queue.
local function move_due_levels(delayed, queue, due, prefixed, set, found)
  if found == nil or #due == 0 then
    move_due(delayed, queue, due, prefixed)
    return #due
  end
  rcall('ZREMRANGEBYRANK', delayed, 0, #due - 1)
  local rest = place_levels(set, items_of(due, prefixed), due, found, false)
  push_all('LPUSH', queue, rest)
  return #rest
end

-- Appends values to list.
local function append(list, values)
  for _, value in ipairs(values) do
    list[#list + 1] = value
  end
  return list
end

-- taken(items): what else the taken items leave (UniqueQueue: its set of waiting items).
-- prefixed: the delayed members carry a prefix (Queue), or are the items (UniqueQueue).
-- The lease is written first: a timeouts key of the wrong type fails the script
-- before anything else is written (the lists and the sorted sets are read before).
-- history: the history hash; levels: { set = the prioritised items waiting, hash = their
-- levels } (includes/priority). Returns the items taken, the highest level first, and,
-- when none was, the milliseconds until the next delayed item is due (-1: none is
-- delayed; 0 when items were taken).
local function take(queue, processing, timeouts, delayed, count, renew, taken, prefixed, history,
                    levels)
  local now = now_ms()
  local held = rcall('LLEN', processing) > 0
  local above, below, prioritised = levels_head(levels.set, count)
  local due = due_members(delayed, now, math.max(count, MOVE_AT_LEAST))
  local found = #due > 0 and levels_of(levels.hash, items_of(due, prefixed)) or nil
  local listed = rcall('LLEN', queue)
  local waiting = listed + #due + prioritised
  count = math.min(count, waiting)
  local opened = count > 0 and history_at(history, math.floor(now / 60000)) or nil
  if renew or held or count > 0 then
    rcall('HSET', timeouts, processing, math.floor(now / 1000))
  end
  listed = listed + move_due_levels(delayed, queue, due, prefixed, levels.set, found)
  if found ~= nil then -- due items may have gone to their levels
    above, below, prioritised = levels_head(levels.set, count)
    waiting = listed + prioritised
    count = math.min(count, waiting)
  end
  local first = math.min(count, #above)
  local from_list = math.min(count - first, listed)
  local last = math.min(count - first - from_list, #below)
  if first + last > 0 then
    rcall('ZREMRANGEBYRANK', levels.set, 0, first + last - 1)
  end
  local items = {}
  if first > 0 then
    items = items_of({ unpack(above, 1, first) }, prefixed)
  end
  if from_list > 0 then
    local popped = rcall('RPOP', queue, from_list)
    items = first > 0 and append(items, popped) or popped
  end
  if last > 0 then
    items = append(items, items_of({ unpack(below, 1, last) }, prefixed))
  end
  push_all('LPUSH', processing, items)
  taken(items)
  if opened then
    history_write(opened, { delivered = #items }, waiting - #items)
  end
  if #items > 0 then
    return { items, 0 }
  end
  return { items, next_due(delayed, now) }
end
