--[[
  The requeue of dead letters, for Queue and UniqueQueue: takes them from the
  dead-letter list (each listed item once; none listed: all) and forgets their
  delivery counts.
]]
--- @include "includes/list_remove"
--- @include "includes/forget"

-- put_back(items): queues the items as if added anew; returns how many were queued.
local function requeue(dead, deliveries, items, put_back)
  local kept = rcall('HLEN', deliveries) > 0
  if #items == 0 then
    items = rcall('LRANGE', dead, 0, -1)
    rcall('DEL', dead)
  else
    items = list_remove(dead, items, 1)
  end
  forget_deliveries(deliveries, items, kept)
  return put_back(items)
end
