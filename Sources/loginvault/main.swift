print("loginvault: under construction")
