--[[
  UniqueQueue's get: as queue_get, and the items taken stop counting as waiting.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    ARGV[1] how many items to take, >= 0
    ARGV[2] 1: renew the lease even if the consumer holds nothing; 0: only if
            it holds items

  Output:
    the items taken, oldest first
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/take"

ready({ 'TYPE', 'TIME', 'LLEN', 'HSET', 'RPOP', 'LPUSH', 'SREM' })
check_types({ KEYS[2], 'set' })
return take(KEYS[1], KEYS[3], KEYS[4], tonumber(ARGV[1]), ARGV[2] == '1', function(items)
  push_all('SREM', KEYS[2], items)
end)
