--[[
  The get of Queue and UniqueQueue: moves up to count items, oldest first, from
  the queue into a consumer's processing list, and renews its lease when it
  holds items (or always, with renew).
]]
--- @include "includes/now"
--- @include "includes/push"

-- taken(items): what else the taken items leave (UniqueQueue: its set of waiting items).
-- The lease is written first: a timeouts key of the wrong type fails the script
-- before anything else is written (the lists are read before).
local function take(queue, processing, timeouts, count, renew, taken)
  local now = now_seconds()
  local held = rcall('LLEN', processing) > 0
  count = math.min(count, rcall('LLEN', queue))
  if renew or held or count > 0 then
    rcall('HSET', timeouts, processing, now)
  end
  local items = {}
  if count > 0 then
    items = rcall('RPOP', queue, count)
  end
  push_all('LPUSH', processing, items)
  taken(items)
  return items
end
