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
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/reject"

ready({ 'TYPE', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'EXISTS', 'HDEL', 'HINCRBY' })
check_types({ KEYS[1], 'list', KEYS[2], 'list', KEYS[3], 'hash', KEYS[4], 'hash', KEYS[5], 'list' })
return reject(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[1]),
  cmsgpack.unpack(ARGV[2]), function(items) return items end)
