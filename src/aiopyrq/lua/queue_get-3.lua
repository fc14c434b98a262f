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
--- @include "includes/now"
--- @include "includes/push"

local items = {}
if tonumber(ARGV[1]) > 0 then
  items = rcall('RPOP', KEYS[1], ARGV[1]) or {}
end
push_all('LPUSH', KEYS[2], items)
if ARGV[2] == '1' or #items > 0 or rcall('EXISTS', KEYS[2]) == 1 then
  rcall('HSET', KEYS[3], KEYS[2], now_seconds())
end
return items
