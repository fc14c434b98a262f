--[[
  Adds a batch to a UniqueQueue: an item already waiting is not added again, nor
  one listed twice in the batch (neither counts as added in the history).

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] history hash (includes/history)
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/not_waiting"
--- @include "includes/push"
--- @include "includes/history"

ready({ 'TIME', 'HLEN', 'SMISMEMBER', 'LPUSH', 'SADD', 'HSET', 'PEXPIRE', 'HINCRBY' })
local history = history_read(KEYS[3])
local items = cmsgpack.unpack(ARGV[1])
local added = not_waiting(KEYS[2], items)
-- The queue is written first: the set is read already, so a wrong type fails the script
-- before anything is written.
local waiting = push_all('LPUSH', KEYS[1], added)
push_all('SADD', KEYS[2], added)
history_write(history, { added = #added }, waiting)
return #added
