"""What the tests share: the constants of the test service, Twilio played (signed requests, TwiML
followed), call-flow steps, desk steps, the service run as a process, event writers, audio."""
