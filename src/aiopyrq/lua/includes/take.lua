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

local MOVE_AT_LEAST = 100 -- due items moved per get, at least (count, if more)

-- taken(items): what else the taken items leave (UniqueQueue: its set of waiting items).
-- prefixed: the delayed members carry a prefix (Queue), or are the items (UniqueQueue).
-- The lease is written first: a timeouts key of the wrong type fails the script
-- before anything else is written (the lists and the delayed set are read before).
-- history: the history hash. Returns the items taken and, when none was, the
-- milliseconds until the next delayed item is due (-1: none is delayed; 0 when items
-- were taken).
local function take(queue, processing, timeouts, delayed, count, renew, taken, prefixed, history)
  local now = now_ms()
  local held = rcall('LLEN', processing) > 0
  local due = due_members(delayed, now, math.max(count, MOVE_AT_LEAST))
  local waiting = rcall('LLEN', queue) + #due
  count = math.min(count, waiting)
  local opened = count > 0 and history_at(history, math.floor(now / 60000)) or nil
  if renew or held or count > 0 then
    rcall('HSET', timeouts, processing, math.floor(now / 1000))
  end
  move_due(delayed, queue, due, prefixed)
  local items = {}
  if count > 0 then
    items = rcall('RPOP', queue, count)
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
