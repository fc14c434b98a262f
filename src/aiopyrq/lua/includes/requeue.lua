--[[
  The requeue of dead letters, for Queue and UniqueQueue: takes them from the
  dead-letter list (each listed item once; none listed: all), forgets their
  delivery counts and drops their records (an item's record stays while a copy
  of it is still in the list).
]]
--- @include "includes/list_remove"
--- @include "includes/forget"

-- put_back(items): queues the items as if added anew; returns how many were queued.
local function requeue(dead, deliveries, records, items, put_back)
  local kept = rcall('HLEN', deliveries) > 0
  if #items == 0 then
    items = rcall('LRANGE', dead, 0, -1)
    rcall('DEL', dead, records)
  else
    items = list_remove(dead, items, 1)
    local gone = {}
    for _, item in ipairs(items) do
      if not rcall('LPOS', dead, item) then
        gone[#gone + 1] = item
      end
    end
    push_all('HDEL', records, gone)
  end
  forget_deliveries(deliveries, items, kept)
  return put_back(items)
end
