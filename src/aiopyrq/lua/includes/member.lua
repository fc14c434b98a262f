--[[
  A Queue's delayed member is the item after a prefix of DELAYED_PREFIX
  characters of its own (see includes/due), so that the same item delayed twice
  waits twice; a UniqueQueue's member is the item itself.
]]
local DELAYED_PREFIX = 20
