--[[
  UniqueQueue's revival of dead letters: as queue_revive, but an item that is
  waiting in the queue already is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] dead-letter list
    KEYS[4] deliveries hash
    ARGV[1] the dead items to move, each once, packed: a msgpack array of
            strings; an empty array: every dead item

  Output:
    how many items were queued
]]
local rcall = redis.call
--- @include "includes/list_remove"
--- @include "includes/deliveries"

local items = cmsgpack.unpack(ARGV[1])
if #items == 0 then
  items = rcall('LRANGE', KEYS[3], 0, -1)
  rcall('DEL', KEYS[3])
else
  items = list_remove(KEYS[3], items, 1)
end
forget_deliveries(KEYS[4], items)
local added = {}
for _, item in ipairs(items) do
  if rcall('SADD', KEYS[2], item) == 1 then
    added[#added + 1] = item
  end
end
push_all('LPUSH', KEYS[1], added)
return #added
