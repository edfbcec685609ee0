{
  "targets": [
    {
      "target_name": "sixtun",
      "sources": ["native/sixtun.c"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
