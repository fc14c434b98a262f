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
    ARGV[3..] items BLMOVE moved into the processing list already: no longer
            waiting either

  Output:
    the items taken, oldest first
]]
local rcall = redis.call
--- @include "includes/now"
--- @include "includes/push"

local items = {}
if tonumber(ARGV[1]) > 0 then
  items = rcall('RPOP', KEYS[1], ARGV[1]) or {}
end
push_all('LPUSH', KEYS[3], items)
push_all('SREM', KEYS[2], items)
push_all('SREM', KEYS[2], { unpack(ARGV, 3) })
if ARGV[2] == '1' or #items > 0 or rcall('EXISTS', KEYS[3]) == 1 then
  rcall('HSET', KEYS[4], KEYS[3], now_seconds())
end
return items
