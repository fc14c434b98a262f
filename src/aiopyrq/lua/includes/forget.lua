--[[
  An item done with (acknowledged, or requeued from the dead letters) has its
  count of failed deliveries forgotten.
]]
--- @include "includes/push"

-- Forgets the counts of items done with; `kept` is whether the deliveries hash exists.
local function forget_deliveries(deliveries, items, kept)
  if kept then
    push_all('HDEL', deliveries, items)
  end
end
