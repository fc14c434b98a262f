--[[
  Requeues dead letters: moves them back to the end of the queue, as if added
  anew, with their delivery counts forgotten and their records dropped.

  Input:
    KEYS[1] queue list
    KEYS[2] dead-letter list
    KEYS[3] deliveries hash
    KEYS[4] dead-letter records hash
    ARGV[1] the dead items to move, each once, packed: a msgpack array of
            strings; an empty array: every dead item

  Output:
    how many items were moved
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/requeue"

ready({ 'TYPE', 'HLEN', 'LRANGE', 'DEL', 'LREM', 'LPUSH', 'RPUSH', 'HDEL', 'LPOS' })
check_types({ KEYS[1], 'list', KEYS[4], 'hash' })
return requeue(KEYS[2], KEYS[3], KEYS[4], cmsgpack.unpack(ARGV[1]), function(items)
  push_all('LPUSH', KEYS[1], items)
  return #items
end)
