--[[
  UniqueQueue's reject: as queue_reject, but an item that is already waiting in
  the queue again is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    KEYS[5] deliveries hash (item -> failed deliveries)
    KEYS[6] dead-letter list
    ARGV[1] max_deliveries; 0: no dead letters
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many items went to the dead-letter list
]]
local rcall = redis.call
--- @include "includes/list_remove"
--- @include "includes/lease"
--- @include "includes/deliveries"

local max = tonumber(ARGV[1])
local taken = list_remove(KEYS[3], cmsgpack.unpack(ARGV[2]), -1)
local alive = count_failures(KEYS[5], KEYS[6], taken, max)
local back = {}
for i = #alive, 1, -1 do
  if rcall('SADD', KEYS[2], alive[i]) == 1 then
    back[#back + 1] = alive[i]
  end
end
push_all('RPUSH', KEYS[1], back)
release_if_empty(KEYS[4], KEYS[3])
return #taken - #alive
