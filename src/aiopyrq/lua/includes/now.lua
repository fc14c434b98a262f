--[[
  The server's clock, so that every client agrees on what "now" is.
]]
local function now_seconds()
  return tonumber(rcall('TIME')[1])
end

-- The server's clock in milliseconds.
local function now_ms()
  local time = rcall('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
