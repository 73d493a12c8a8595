"""chat/engine"""
