--[[
  Rejects a batch: the items still held in the processing list go back to the
  front of the queue, in the batch's order (the first is taken next); with dead
  letters on, an item rejected or recovered ARGV[1] times goes to the
  dead-letter list instead.

  Input:
    KEYS[1] queue list
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash
    KEYS[4] deliveries hash (item -> failed deliveries)
    KEYS[5] dead-letter list
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
local taken = list_remove(KEYS[2], cmsgpack.unpack(ARGV[2]), -1)
local alive = count_failures(KEYS[4], KEYS[5], taken, max)
local back = {}
for i = #alive, 1, -1 do
  back[#back + 1] = alive[i]
end
push_all('RPUSH', KEYS[1], back)
release_if_empty(KEYS[3], KEYS[2])
return #taken - #alive
