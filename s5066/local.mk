# s5066/local.mk - STANAG 5066 SIS: codec, client engine, link glue, tools
