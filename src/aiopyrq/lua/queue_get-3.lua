--[[
  Moves up to ARGV[1] items, oldest first, from the queue into this consumer's
  processing list, and renews the consumer's lease.

  Input:
    KEYS[1] queue list (items pushed on the left, taken from the right)
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash (processing list -> unix time of the last get)
    ARGV[1] how many items to take, >= 0
    ARGV[2] 1: renew the lease even if the consumer holds nothing (before it
            blocks in BLMOVE, so that whatever BLMOVE moves has a lease);
            0: only if it holds items

  Output:
    the items taken, oldest first
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/take"

ready({ 'TIME', 'LLEN', 'HSET', 'RPOP', 'LPUSH' })
return take(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2] == '1', function() end)
