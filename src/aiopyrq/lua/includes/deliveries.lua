--[[
  Dead letters. The deliveries hash counts, per item, the deliveries that ended
  in a reject or in a recovery. With max > 0, an item whose count reaches max
  goes to the end of the dead-letter list instead of back to the queue, and its
  count is forgotten. A reject with a delay counts too without max (counted), so
  that the delay can grow with the failed deliveries; the item never dies then.

  Each item that dies gets its record in the records hash (item -> JSON: reason,
  died_at in unix ms by the server's clock, deliveries, consumer), replacing the
  record of an earlier copy of it still in the dead-letter list.
]]
--- @include "includes/push"
--- @include "includes/now"

-- why: { records = key, reason = text or '' (none), consumer = id } of the deaths, and
-- levels = the levels hash when it exists (includes/priority): the dead forget theirs.
-- Counts one failed delivery of each item; returns those that go back, in order.
local function count_failures(deliveries, dead, items, max, counted, why)
  if max <= 0 and not counted then
    return items
  end
  local back, died, counts = {}, {}, {}
  for _, item in ipairs(items) do
    local count = rcall('HINCRBY', deliveries, item, 1)
    if count >= max and max > 0 then
      died[#died + 1] = item
      counts[#died] = count
    else
      back[#back + 1] = item
    end
  end
  if #died > 0 then
    local records, died_at = {}, now_ms()
    local reason = why.reason ~= '' and why.reason or nil
    for i, item in ipairs(died) do
      records[#records + 1] = item
      records[#records + 1] = cjson.encode({ reason = reason, died_at = died_at,
        deliveries = counts[i], consumer = why.consumer })
    end
    push_all('RPUSH', dead, died)
    push_all('HDEL', deliveries, died)
    push_all('HSET', why.records, records)
    if why.levels then
      push_all('HDEL', why.levels, died)
    end
  end
  return back
end
