--[[
  Dead letters. The deliveries hash counts, per item, the deliveries that ended
  in a reject or in a recovery. With max > 0, an item whose count reaches max
  goes to the end of the dead-letter list instead of back to the queue, and its
  count is forgotten. A reject with a delay counts too without max (counted), so
  that the delay can grow with the failed deliveries; the item never dies then.
]]
--- @include "includes/push"

-- Counts one failed delivery of each item; returns those that go back, in order.
local function count_failures(deliveries, dead, items, max, counted)
  if max <= 0 and not counted then
    return items
  end
  local back, died = {}, {}
  for _, item in ipairs(items) do
    if rcall('HINCRBY', deliveries, item, 1) >= max and max > 0 then
      died[#died + 1] = item
    else
      back[#back + 1] = item
    end
  end
  push_all('RPUSH', dead, died)
  push_all('HDEL', deliveries, died)
  return back
end
