--[[
  The get of Queue and UniqueQueue: moves up to count items, oldest first, from
  the queue into a consumer's processing list, and renews its lease when it
  holds items (or always, with renew).
]]
--- @include "includes/now"
--- @include "includes/push"

-- taken(items): what else the taken items leave (UniqueQueue: its set of waiting items).
local function take(queue, processing, timeouts, count, renew, taken)
  local now = now_seconds()
  local held = rcall('EXISTS', processing) == 1
  local items = {}
  if count > 0 then
    items = rcall('RPOP', queue, count) or {}
  end
  push_all('LPUSH', processing, items)
  taken(items)
  if renew or held or #items > 0 then
    rcall('HSET', timeouts, processing, now)
  end
  return items
end
