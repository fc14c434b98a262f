--[[
  The server's clock, so that every client agrees on what "now" is.
]]
local function now_seconds()
  return tonumber(rcall('TIME')[1])
end
