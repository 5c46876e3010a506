"""One module per `synrecon` command; see synnet_recon/cli.py."""
